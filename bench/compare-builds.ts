/**
 * Two builds of Beamline side by side, at the same time, on the same machine: is one of them
 * slower per request?
 *
 *   npm run bench:compare -- --a <checkout> --b <checkout> [--rate 150 | --concurrency 64] [--stream] [--seconds 20] [--rounds 6]
 *
 * Each `<checkout>` is a built checkout (its own `dist/`), e.g. a `git worktree` of an older
 * commit. Every round starts a whole stack per build (nats-server, mock, router, the way
 * `npm run bench` starts one), warms both up, then drives both with the same open-loop rate
 * at the same time and reads the CPU time each router and each nats-server used per completed
 * request, counted until its consumers have caught up after the load (a build whose projector
 * falls behind does that work after the load; the time is reported as "drain"). The figure of
 * a round is B's CPU per request over A's. With `--concurrency` both are driven by a closed
 * loop instead (saturated, as scenario 3 of `npm run bench`): they then compete for the two
 * cores, and the throughput each reaches is reported beside its CPU.
 *
 * Why simultaneous: on a shared 2-core VM the same build measured twice a minute apart differs
 * by up to ±30 % (bench/RESULTS.md), far more than the differences worth finding. Two builds
 * running through the same seconds share whatever the host does in them, so their ratio keeps
 * its meaning when the absolute figures do not. The default rate sits well below saturation so
 * that neither build starves the other and both do the same work; the order in which the stacks
 * start alternates between rounds. Unless `--pin` is given, nothing is pinned: both builds share
 * both cores.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { runClosedLoop, runOpenLoop } from "./load.js";
import { positive } from "./options.js";
import { cpuTimes, ResourceSampler } from "./processes.js";
import { type Stack, startStack, stopStack } from "./stack.js";
import { httpChatTarget, type Target } from "./targets.js";

const HELP = `Usage: npm run bench:compare -- --a <checkout> --b <checkout> [options]

  --a <dir>         the baseline build: a checkout with dist/ built (npm run build)
  --b <dir>         the build compared with it
  --rate <n>        open-loop requests per second sent to each build at once (default 150)
  --concurrency <n> a closed loop with this many requests in flight per build instead
  --seconds <s>     measured seconds per round (default 20)
  --warmup <s>      closed-loop warm-up per build and round (default 3)
  --rounds <n>      rounds; each starts both stacks afresh (default 6)
  --stream          ask for streamed answers (server-sent events) instead of plain ones
  --a-node-flags <f>, --b-node-flags <f>
                    extra node and V8 flags for that build's router; with --a and --b the
                    same checkout, this compares flags rather than builds
  --a-env <NAME=value>, --b-env <NAME=value>
                    a setting in that build's router environment (repeatable); with --a and
                    --b the same checkout, this compares settings, e.g. a default to change
  --pin             pin both builds' routers and nats-servers to core 0 and both mocks to
                    core 1, as npm run bench pins one build: the two then share one core
  --json            print the result as JSON instead of a table`;

interface Options {
  a: string;
  b: string;
  rate: number;
  /** Closed loop with this many in flight per build; undefined: the open loop at `rate`. */
  concurrency: number | undefined;
  seconds: number;
  warmup: number;
  rounds: number;
  json: boolean;
  pin: boolean;
  stream: boolean;
  /** Extra node flags for each build's router. */
  nodeFlags: { a: string[]; b: string[] };
  /** Extra environment for each build's router. */
  env: { a: Record<string, string>; b: Record<string, string> };
}

/** `NAME=value` pairs as an environment; a malformed pair is refused. */
function envOf(option: string, pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!match) throw new Error(`--${option} takes NAME=value, got ${JSON.stringify(pair)}`);
    env[match[1]!] = match[2]!;
  }
  return env;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      a: { type: "string" },
      b: { type: "string" },
      rate: { type: "string" },
      concurrency: { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      json: { type: "boolean", default: false },
      pin: { type: "boolean", default: false },
      stream: { type: "boolean", default: false },
      "a-node-flags": { type: "string", default: "" },
      "b-node-flags": { type: "string", default: "" },
      "a-env": { type: "string", multiple: true, default: [] },
      "b-env": { type: "string", multiple: true, default: [] },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (!values.a || !values.b) throw new Error(`--a and --b are required\n\n${HELP}`);
  for (const build of ["a", "b"] as const) {
    const dir = resolve(values[build]!);
    for (const needed of ["bin/beamline.js", "dist", "node_modules"]) {
      if (!existsSync(join(dir, needed))) {
        throw new Error(
          `--${build} ${dir} has no ${needed}: give a checkout with node_modules, built by npm run build`,
        );
      }
    }
  }
  return {
    a: resolve(values.a),
    b: resolve(values.b),
    rate: positive("rate", values.rate, 150),
    concurrency:
      values.concurrency === undefined
        ? undefined
        : Math.round(positive("concurrency", values.concurrency, Number.NaN)),
    seconds: positive("seconds", values.seconds, 20),
    warmup: positive("warmup", values.warmup, 3),
    rounds: Math.round(positive("rounds", values.rounds, 6)),
    json: values.json,
    pin: values.pin,
    stream: values.stream,
    nodeFlags: {
      a: values["a-node-flags"].split(/\s+/).filter(Boolean),
      b: values["b-node-flags"].split(/\s+/).filter(Boolean),
    },
    env: { a: envOf("a-env", values["a-env"]), b: envOf("b-env", values["b-env"]) },
  };
}

/** CPU per completed request of one build in one round, in microseconds. */
interface BuildRound {
  /** How long its consumers took after the load to process and acknowledge everything, ms. */
  drainMs: number;
  completed: number;
  errors: number;
  throughput: number;
  routerUsPerRequest: number;
  natsUsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  /** The router's largest RSS while the load ran (sampled every 100 ms), MB. */
  routerPeakRssMb: number;
}

interface Round {
  a: BuildRound;
  b: BuildRound;
  /** B's router + nats-server CPU per request over A's. */
  ratio: number;
}

const cpuMs = (pid: number) => {
  const times = cpuTimes(pid);
  if (!times) throw new Error(`process ${pid} is gone`);
  return times.userMs + times.systemMs;
};

/** Longest wait for a build's consumers to catch up after the load. */
const DRAIN_LIMIT_MS = 120_000;

/**
 * Waits until every durable consumer on the build's nats-server has processed and acknowledged
 * everything, and returns how long that took. A projector that falls behind under load does
 * part of its work after the load has stopped: counting the CPU only while the load runs would
 * make a build that defers work look cheaper than one that keeps up.
 */
async function drained(natsUrl: string): Promise<number> {
  const started = performance.now();
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    for (;;) {
      let behind = 0;
      for await (const stream of jsm.streams.list()) {
        for await (const consumer of jsm.consumers.list(stream.config.name)) {
          if (consumer.config.durable_name) behind += consumer.num_pending + consumer.num_ack_pending;
        }
      }
      const elapsed = performance.now() - started;
      if (behind === 0) return elapsed;
      if (elapsed > DRAIN_LIMIT_MS)
        throw new Error(`consumers still ${behind} messages behind after ${DRAIN_LIMIT_MS} ms`);
      await sleep(50);
    }
  } finally {
    await nc.close();
  }
}

async function measure(stack: Stack, target: Target, options: Options): Promise<BuildRound> {
  const router0 = cpuMs(stack.router.pid);
  const nats0 = cpuMs(stack.nats.pid);
  const memory = new ResourceSampler({ router: stack.router.pid });
  memory.start();
  const summary =
    options.concurrency === undefined
      ? await runOpenLoop(target.call, options.rate, options.seconds * 1000)
      : await runClosedLoop(target.call, options.concurrency, options.seconds * 1000);
  const routerPeakRssMb = (memory.stop()["router"]?.peakRssBytes ?? 0) / 2 ** 20;
  const drainMs = await drained(stack.natsUrl);
  const completed = summary.ok;
  const per = (ms: number) => (completed > 0 ? (ms * 1000) / completed : Number.NaN);
  return {
    drainMs,
    completed,
    errors: summary.errors,
    throughput: summary.throughput,
    routerUsPerRequest: per(cpuMs(stack.router.pid) - router0),
    natsUsPerRequest: per(cpuMs(stack.nats.pid) - nats0),
    p50Ms: summary.p50,
    p99Ms: summary.p99,
    routerPeakRssMb,
  };
}

async function round(index: number, options: Options, workDir: string): Promise<Round> {
  const devKey = `compare-${Date.now().toString(36)}-dev-key`;
  const builds = index % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const);
  const stacks = new Map<"a" | "b", Stack>();
  const targets = new Map<"a" | "b", Target>();
  try {
    for (const build of builds) {
      const stack = await startStack({
        repoRoot: options[build],
        workDir: join(workDir, `${index}-${build}`),
        devKey,
        routerCpu: options.pin ? 0 : undefined,
        loadCpu: options.pin ? 1 : undefined,
        profileDir: undefined,
        routerNodeFlags: options.nodeFlags[build],
        routerEnv: options.env[build],
      });
      stacks.set(build, stack);
      targets.set(
        build,
        httpChatTarget({
          origin: stack.routerUrl,
          path: "/v1/chat/completions",
          connections: Math.max(32, options.concurrency ?? 0),
          headers: { authorization: `Bearer ${devKey}` },
          stream: options.stream,
        }),
      );
    }
    const target = (build: "a" | "b") => targets.get(build)!;
    const stack = (build: "a" | "b") => stacks.get(build)!;
    await Promise.all(builds.map((build) => runClosedLoop(target(build).call, 8, options.warmup * 1000)));
    const [first, second] = await Promise.all(
      builds.map((build) => measure(stack(build), target(build), options)),
    );
    const a = builds[0] === "a" ? first! : second!;
    const b = builds[0] === "a" ? second! : first!;
    const total = (r: BuildRound) => r.routerUsPerRequest + r.natsUsPerRequest;
    return { a, b, ratio: total(b) / total(a) };
  } finally {
    for (const target of targets.values()) await target.close();
    for (const stack of stacks.values()) await stopStack(stack);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const workDir = await mkdtemp(join(tmpdir(), "beamline-compare-"));
  const rounds: Round[] = [];
  const log = (line: string) => {
    if (!options.json) console.log(line);
  };
  const load = `${
    options.concurrency === undefined
      ? `${options.rate} req/s to each`
      : `a closed loop of ${options.concurrency} in flight on each`
  }${options.stream ? ", streamed" : ""}`;
  log(`A ${options.a}\nB ${options.b}\n${load} for ${options.seconds} s, ${options.rounds} rounds`);
  log(
    "round  A router+nats µs/req   B router+nats µs/req   B/A    A req/s  B req/s  A p50/p99 ms     B p50/p99 ms     A/B drain ms  A/B router peak MB",
  );
  try {
    for (let index = 0; index < options.rounds; index++) {
      const result = await round(index, options, workDir);
      rounds.push(result);
      const cell = (r: BuildRound) =>
        `${r.routerUsPerRequest.toFixed(0).padStart(6)} + ${r.natsUsPerRequest.toFixed(0).padStart(5)}`.padEnd(
          22,
        );
      const lat = (r: BuildRound) => `${r.p50Ms.toFixed(1)}/${r.p99Ms.toFixed(1)}`.padEnd(16);
      log(
        `${String(index + 1).padStart(5)}  ${cell(result.a)} ${cell(result.b)} ${result.ratio.toFixed(3)}  ${result.a.throughput.toFixed(0).padStart(6)}   ${result.b.throughput.toFixed(0).padStart(6)}   ${lat(result.a)} ${lat(result.b)} ${`${result.a.drainMs.toFixed(0)}/${result.b.drainMs.toFixed(0)}`.padEnd(13)} ${result.a.routerPeakRssMb.toFixed(1)}/${result.b.routerPeakRssMb.toFixed(1)}` +
          (result.a.errors + result.b.errors > 0
            ? `  errors A ${result.a.errors}, B ${result.b.errors}`
            : ""),
      );
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const ratios = rounds.map((r) => r.ratio);
  const summary = {
    a: options.a,
    b: options.b,
    nodeFlags: options.nodeFlags,
    rate: options.concurrency === undefined ? options.rate : undefined,
    concurrency: options.concurrency,
    stream: options.stream,
    seconds: options.seconds,
    rounds,
    medianRatio: median(ratios),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    bSlowerInRounds: ratios.filter((ratio) => ratio > 1).length,
    medianThroughputRatio: median(rounds.map((r) => r.b.throughput / r.a.throughput)),
    /** B's router peak RSS minus A's, MB: median over the rounds. */
    medianPeakRssDifferenceMb: median(rounds.map((r) => r.b.routerPeakRssMb - r.a.routerPeakRssMb)),
  };
  if (options.json) console.log(JSON.stringify(summary, null, 2));
  else
    console.log(
      `B/A CPU per request: median ${summary.medianRatio.toFixed(3)} (range ${summary.minRatio.toFixed(3)}–${summary.maxRatio.toFixed(3)}); B used more in ${summary.bSlowerInRounds} of ${rounds.length} rounds; B/A throughput: median ${summary.medianThroughputRatio.toFixed(3)}; B − A router peak RSS: median ${summary.medianPeakRssDifferenceMb.toFixed(1)} MB`,
    );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
