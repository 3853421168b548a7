/**
 * NATS messages per request, by subject class: what one sequential chat completion puts on
 * the wire between the router and its nats-server (publishes, their acks, consumer
 * deliveries, KV traffic, live notices). At one request in flight every message is its own
 * socket write and read on both sides, so this count is most of the fixed cost per request.
 *
 *   node --import tsx bench/nats-traffic.ts [--requests 300] [--json] [--profile <dir>]
 *
 * A tap connection subscribes to `>` on the router's nats-server; it sees every message the
 * server routes, including consumer deliveries (shown under the stored message's subject)
 * and replies to inboxes. Request and tenant ids are folded so the classes add up per request.
 * It also prints the router's CPU time per request over the sequential loop (from /proc, so
 * it holds on a loaded machine better than a latency does; 10 ms clock ticks, so use hundreds
 * of requests). The nats-server's CPU is not shown: the tap itself doubles what it sends.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { cpuTimes } from "./processes.js";
import { formatProfile, summariseLatestProfile } from "./profile.js";
import { startMock, startNats, startRouter } from "./stack.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "300" },
    json: { type: "boolean", default: false },
    /** Writes the router's CPU profile (`--cpu-prof`) into this folder and prints a summary. */
    profile: { type: "string" },
  },
});
const requests = Number(values.requests);
if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 1 to 100000");
}

/** Folds per-request parts of a subject so one class counts the same message across requests. */
export function subjectClass(subject: string): string {
  return subject
    .replace(/^_INBOX\..*/, "_INBOX (replies: publish acks, gets)")
    .replace(/^\$JS\.ACK\.([^.]+)\.([^.]+)\..*/, "$JS.ACK.$1.$2")
    .replace(/^bl\.(req|quota|usage|in)\.[^.]+\.[^.]+/, "bl.$1.<tenant>.<request>")
    .replace(/^bl\.live\..*/, "bl.live.<gateway>.<request>")
    .replace(/^\$JS\.API\.DIRECT\.GET\.([^.]+)\..*/, "$JS.API.DIRECT.GET.$1")
    .replace(/^\$JS\.API\.CONSUMER\.MSG\.NEXT\.([^.]+)\..*/, "$JS.API.CONSUMER.MSG.NEXT.$1")
    .replace(/^\$KV\.([^.]+)\..*/, "$KV.$1.<key>");
}

const workDir = await mkdtemp(join(tmpdir(), "beamline-traffic-"));
const repoRoot = process.cwd();
const devKey = `traffic-${Date.now().toString(36)}-dev-key`;
const profileDir = values.profile;
const place = { repoRoot, workDir, devKey, routerCpu: undefined, loadCpu: undefined, profileDir };
const nats = await startNats(join(workDir, "nats"), undefined);
const mock = await startMock(repoRoot, undefined);
const router = await startRouter({ ...place, routerNodeFlags: [] }, nats.url, mock.url);
const tap = await connect({ servers: nats.url, name: "traffic-tap" });
const counts = new Map<string, number>();
let counting = false;
const subscription = tap.subscribe(">");
void (async () => {
  for await (const message of subscription) {
    if (!counting) continue;
    const key = subjectClass(message.subject);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
})();

/**
 * The router's read and write system calls so far (/proc/<pid>/io): every socket write and
 * read counts, so at one request in flight this is how many times a request touches a socket.
 */
function routerSyscalls(): { reads: number; writes: number } {
  const io = readFileSync(`/proc/${router.child.pid}/io`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1] ?? Number.NaN);
  return { reads: field("syscr"), writes: field("syscw") };
}

/** The router's CPU time so far (user + kernel), ms. */
function routerCpuMs(): number {
  const times = cpuTimes(router.child.pid);
  if (!times) throw new Error("cannot read the router's CPU time from /proc");
  return times.userMs + times.systemMs;
}

async function call(): Promise<void> {
  const response = await fetch(`${router.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello." }] }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`the router answered ${response.status}: ${body}`);
}

try {
  for (let i = 0; i < 20; i++) await call(); // warm-up: views loaded, consumers pulled
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  counting = true;
  const cpuBefore = routerCpuMs();
  const syscallsBefore = routerSyscalls();
  const loopStarted = performance.now();
  for (let i = 0; i < requests; i++) await call();
  const wallPerRequestMs = (performance.now() - loopStarted) / requests;
  const routerCpuPerRequestMs = (routerCpuMs() - cpuBefore) / requests;
  const syscallsAfter = routerSyscalls();
  const routerWritesPerRequest = (syscallsAfter.writes - syscallsBefore.writes) / requests;
  const routerReadsPerRequest = (syscallsAfter.reads - syscallsBefore.reads) / requests;
  // Billing and the projectors finish after the answer; wait for their traffic too.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  counting = false;
  const rows = [...counts]
    .map(([subject, n]) => ({ subject, perRequest: n / requests }))
    .sort((a, b) => b.perRequest - a.perRequest);
  const total = rows.reduce((sum, row) => sum + row.perRequest, 0);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          requests,
          total,
          wallPerRequestMs,
          routerCpuPerRequestMs,
          routerWritesPerRequest,
          routerReadsPerRequest,
          rows,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const row of rows.filter((r) => r.perRequest >= 0.05)) {
      process.stdout.write(`${row.perRequest.toFixed(2).padStart(7)}  ${row.subject}\n`);
    }
    process.stdout.write(
      `${total.toFixed(2).padStart(7)}  messages per request in all (${requests} requests)\n`,
    );
    process.stdout.write(`${wallPerRequestMs.toFixed(2).padStart(7)}  ms per request, wall time (noisy)\n`);
    process.stdout.write(
      `${routerCpuPerRequestMs.toFixed(2).padStart(7)}  router CPU ms per request (user + kernel)\n`,
    );
    process.stdout.write(
      `${routerWritesPerRequest.toFixed(2).padStart(7)}  router write system calls per request\n`,
    );
    process.stdout.write(
      `${routerReadsPerRequest.toFixed(2).padStart(7)}  router read system calls per request\n`,
    );
  }
} finally {
  await tap.close();
  await router.child.stop();
  if (profileDir) {
    const profile = await summariseLatestProfile(profileDir);
    if (profile) process.stdout.write(`${formatProfile(profile)}\n`);
  }
  await mock.child.stop();
  await nats.child.stop();
  await rm(workDir, { recursive: true, force: true });
}
