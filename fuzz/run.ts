import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import { SingleBar } from "cli-progress";
import { startTestBeamline } from "../test/support/beamline.js";
import { type FuzzSummary, type MemorySample, runFuzz } from "../test/support/fuzz.js";

/**
 * `npm run fuzz [-- --cases N] [--seed S] [--max-seconds S] [--json] [--heap-snapshots DIR]`: starts a Beamline with every role (real
 * nats-server, mock provider, admin API on) and runs the fuzz cases of test/support/fuzz.ts
 * against it. Exits 1 when any case broke a rule (a 5xx, a crash, a rejection without a
 * documented code, a request left unanswered). It prints the memory series (after a full GC) so
 * growth over the run can be told from noise; `--heap-snapshots DIR` also writes a V8 heap
 * snapshot after 10 % of the cases and one at the end, to compare what grew (writing one stalls
 * the process, so cases in flight then may time out). `--max-seconds S` bounds the run's time:
 * past it the lanes finish their case in flight and the summary covers the cases done.
 */
const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "100000" },
    seed: { type: "string" },
    json: { type: "boolean", default: false },
    "heap-snapshots": { type: "string" },
    "max-seconds": { type: "string" },
  },
});
const cases = Number(values.cases);
if (!Number.isInteger(cases) || cases < 1) throw new Error("--cases takes a positive integer");
const adminToken = "fuzz-admin-token-0123456789";

// The fuzz run is about input handling, not overload: a machine saturated by the run itself
// may take longer than the gateway's 2 s append bound to store a megabyte body (a 503 that is
// correct there), and wrong admin tokens are the point here, so the failure limiter (tested
// in operator-surfaces) must not turn the admin cases into 429s.
const beamline = await startTestBeamline({
  adminToken,
  logLevel: "warn",
  availability: { appendTimeoutMs: 30_000 },
  operatorAuth: { failureBurst: 1_000_000 },
});
const progress = values.json
  ? undefined
  : new SingleBar({
      format: "fuzz [{bar}] {value}/{total} cases | {eta_formatted} left",
      // In a CI log (no TTY) a line every 5 s instead of nothing.
      noTTYOutput: true,
      notTTYSchedule: 5000,
    });
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const sampleLine = (m: MemorySample) =>
  `${m.cases} cases ${m.seconds} s: RSS ${mb(m.rssBytes)}, heap ${mb(m.heapUsedBytes)}, external ${mb(m.externalBytes)}, nats-server ${m.natsServerRssBytes === undefined ? "-" : mb(m.natsServerRssBytes)}; 5xx ${m.serverErrors}, crashes ${m.crashes}, violations ${m.violations}`;
const snapshotDir = values["heap-snapshots"];
let warmSnapshotTaken = false;
const snapshot = (name: string) => {
  if (snapshotDir !== undefined) writeHeapSnapshot(join(snapshotDir, `fuzz-${name}.heapsnapshot`));
};
const maxSeconds = values["max-seconds"] === undefined ? undefined : Number(values["max-seconds"]);
if (maxSeconds !== undefined && !(maxSeconds > 0)) throw new Error("--max-seconds takes a positive number");
const stop = new AbortController();
const deadline = maxSeconds === undefined ? undefined : setTimeout(() => stop.abort(), maxSeconds * 1000);
let summary: FuzzSummary;
try {
  progress?.start(cases, 0);
  summary = await runFuzz({
    baseUrl: beamline.baseUrl,
    credentials: { devKey: beamline.devKey, adminToken },
    cases,
    ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
    ...(beamline.server.pid === undefined ? {} : { natsServerPid: beamline.server.pid }),
    signal: stop.signal,
    onViolation: (example) => {
      if (!values.json)
        process.stderr.write(`violation ${example.target}: ${example.problem}\n  ${example.input}\n`);
    },
    onMemorySample: (sample) => {
      // Live on stderr, so a run stopped early (or a long one watched) still shows its course.
      if (!values.json) process.stderr.write(`memory ${sampleLine(sample)}\n`);
      if (!warmSnapshotTaken && sample.cases >= cases / 10) {
        warmSnapshotTaken = true;
        snapshot("warm");
      }
    },
    onProgress: (done) => {
      if (done % 100 === 0 || done === cases) progress?.update(done);
    },
  });
  snapshot("end");
} finally {
  clearTimeout(deadline);
  progress?.stop();
  await beamline.stop();
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} else {
  const lines = [
    `cases       ${summary.cases}${stop.signal.aborted ? ` of ${cases} (stopped at --max-seconds)` : ""} in ${(summary.durationMs / 1000).toFixed(1)} s (seed ${summary.seed})`,
    `by target   ${Object.entries(summary.byTarget)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `by status   ${Object.entries(summary.byStatus)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `rejections  ${Object.entries(summary.rejectionsByCode)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `5xx         ${summary.serverErrors}`,
    `crashes     ${summary.crashes}`,
    `violations  ${summary.violations}`,
    `RSS         start ${mb(summary.rssStartBytes)}, after 10 % ${mb(summary.rssWarmBytes)}, end ${mb(summary.rssEndBytes)}, max ${mb(summary.rssMaxBytes)}`,
    "memory      (after a full GC)",
    ...summary.memory.map((m) => `  ${sampleLine(m)}`),
    ...summary.examples.map((e) => `  ${e.target}: ${e.problem}\n    ${e.input}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
process.exitCode = summary.violations === 0 ? 0 : 1;
