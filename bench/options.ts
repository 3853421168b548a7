import { parseArgs } from "node:util";

/** Everything a benchmark run can be told, after defaults. Durations in milliseconds. */
export interface BenchOptions {
  quick: boolean;
  /** Scenario 1: sequential requests per target, after the warm-up. */
  sequentialRequests: number;
  /** Scenario 2: open-loop arrival rate (requests per second) and how long it lasts. */
  openRatePerSecond: number;
  openDurationMs: number;
  /** Scenario 3: requests kept in flight (closed loop) and how long it lasts. */
  concurrency: number;
  closedDurationMs: number;
  /** Scenario 4: concurrent SSE streams (closed loop), how long, and at most how many per target. */
  streams: number;
  streamDurationMs: number;
  streamMaxCalls: number;
  /** Scenario 4: the mock's time to first token, gap between chunks, and content pieces. */
  streamLatencyMs: number;
  streamChunkDelayMs: number;
  streamChunks: number;
  /** Closed-loop warm-up before every measured run, per target. */
  warmupMs: number;
  /**
   * Calls each target gets once, before the first of scenarios 1–3: V8 optimises the router's
   * per-request code only after a few thousand requests (its CPU per request halves over the
   * first ~2,000), so without them scenario 1 measured a router still warming up.
   */
  warmupCalls: number;
  /** Payload of the raw JetStream baseline, in bytes (about a Beamline event's size). */
  payloadBytes: number;
  /** Pin router + nats-server and the load generator + mock to different cores with `taskset`. */
  pin: boolean;
  routerCpu: number;
  loadCpu: number;
  /** Run the router child under `node --cpu-prof` and summarise its top self-time functions. */
  profile: boolean;
  /** Extra `node` flags for the router child (experiments, e.g. `--max-semi-space-size=32`). */
  routerNodeFlags: string[];
  /** Run `npm run build` even when `dist/` is newer than the sources. */
  build: boolean;
  /** Scenarios to run (1, 2, 3, 4). */
  scenarios: number[];
  /** Targets to measure, by their labels: a (mock direct), b (via Beamline), c1, c2 (JetStream), c3 (skeleton). */
  targets: string[];
  /** Where the JSON result (and profiles) go. */
  outDir: string;
}

const HELP = `Usage: npm run bench -- [options]

  --quick                   a smoke run of a few seconds in total
  --sequential <n>          scenario 1: sequential requests per target (default 2000)
  --rate <n>                scenario 2: open-loop arrivals per second (default 500)
  --open-seconds <s>        scenario 2: duration (default 10)
  --concurrency <n>         scenario 3: requests in flight (default 128)
  --closed-seconds <s>      scenario 3: duration (default 10)
  --streams <n>             scenario 4: concurrent streams (default 1000)
  --stream-seconds <s>      scenario 4: duration per target (default 15)
  --stream-max <n>          scenario 4: at most this many streams per target (default 20000)
  --stream-latency-ms <ms>  scenario 4: the mock's time to first token (default 200)
  --stream-chunk-delay-ms <ms>  scenario 4: the mock's gap between chunks (default 25)
  --stream-chunks <n>       scenario 4: pieces the mock streams the content in (default 32)
  --warmup-seconds <s>      warm-up per target before each measured run (default 2)
  --warmup-calls <n>        calls per target once, before scenarios 1–3 (default 5000; 0: none)
  --payload-bytes <n>       raw JetStream message size (default 700)
  --scenarios <list>        which scenarios to run, e.g. 1,3 (default 1,2,3,4)
  --targets <list>          which targets to measure: a, b, c1, c2, c3 (default all; scenario 4: a, b, c3)
  --no-pin                  do not pin processes with taskset
  --router-cpu <n>          core of the router and its nats-server (default 0)
  --load-cpu <n>            core of the load generator and the mock (default 1)
  --profile                 CPU-profile the router (node --cpu-prof) and print its hottest functions
  --router-node-flags <f>   extra node flags for the router, e.g. "--max-semi-space-size=32"
  --build                   rebuild dist/ even if it is newer than the sources
  --out <dir>               output folder (default bench/out)

Every option may also be given as an environment variable: BENCH_QUICK=1, BENCH_RATE=800, ...`;

/** Repeated `--router-env NAME=value` flags as an environment; a clear error for a malformed one. */
export function envPairs(pairs: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`--router-env takes NAME=value, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** `raw` as a positive number, `fallback` when absent; a clear error naming `--name` otherwise. */
export const positive = (name: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got ${raw}`);
  return value;
};

/** Parses CLI flags (with `BENCH_*` environment fallbacks); prints help and exits on `--help`. */
export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean" },
      sequential: { type: "string" },
      rate: { type: "string" },
      "open-seconds": { type: "string" },
      concurrency: { type: "string" },
      "closed-seconds": { type: "string" },
      streams: { type: "string" },
      "stream-seconds": { type: "string" },
      "stream-max": { type: "string" },
      "stream-latency-ms": { type: "string" },
      "stream-chunk-delay-ms": { type: "string" },
      "stream-chunks": { type: "string" },
      "warmup-seconds": { type: "string" },
      "warmup-calls": { type: "string" },
      "payload-bytes": { type: "string" },
      scenarios: { type: "string" },
      targets: { type: "string" },
      "no-pin": { type: "boolean" },
      "router-cpu": { type: "string" },
      "load-cpu": { type: "string" },
      profile: { type: "boolean" },
      "router-node-flags": { type: "string" },
      build: { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const flag = (name: keyof typeof values, envName: string): string | undefined => {
    const value = values[name];
    return typeof value === "string" ? value : env[envName];
  };
  const on = (name: keyof typeof values, envName: string): boolean =>
    values[name] === true || ["1", "true", "yes"].includes((env[envName] ?? "").toLowerCase());

  const quick = on("quick", "BENCH_QUICK");
  const seconds = (name: keyof typeof values, envName: string, full: number, short: number) =>
    Math.round(positive(String(name), flag(name, envName), quick ? short : full) * 1000);
  const cpu = (name: keyof typeof values, envName: string, fallback: number) => {
    const raw = flag(name, envName);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${String(name)} must be a core number`);
    return value;
  };
  const scenarios = (flag("scenarios", "BENCH_SCENARIOS") ?? "1,2,3,4")
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => [1, 2, 3, 4].includes(n));
  if (scenarios.length === 0) throw new Error("--scenarios must name at least one of 1, 2, 3, 4");
  const count = (name: keyof typeof values, envName: string, fallback: number) =>
    Math.round(positive(String(name), flag(name, envName), fallback));
  const millis = (name: keyof typeof values, envName: string, fallback: number) => {
    const raw = flag(name, envName);
    const value = raw === undefined || raw === "" ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`--${String(name)} must be a whole number of milliseconds, got ${raw}`);
    return value;
  };
  const targets = (flag("targets", "BENCH_TARGETS") ?? "a,b,c1,c2,c3").split(",").map((t) => t.trim());
  const unknown = targets.filter((t) => !["a", "b", "c1", "c2", "c3"].includes(t));
  if (unknown.length > 0 || targets.length === 0)
    throw new Error(`--targets takes a, b, c1, c2, c3; got ${unknown.join(", ")}`);

  return {
    quick,
    sequentialRequests: Math.round(
      positive("sequential", flag("sequential", "BENCH_SEQUENTIAL"), quick ? 200 : 2000),
    ),
    openRatePerSecond: positive("rate", flag("rate", "BENCH_RATE"), 500),
    openDurationMs: seconds("open-seconds", "BENCH_OPEN_SECONDS", 10, 1.5),
    concurrency: Math.round(positive("concurrency", flag("concurrency", "BENCH_CONCURRENCY"), 128)),
    closedDurationMs: seconds("closed-seconds", "BENCH_CLOSED_SECONDS", 10, 1.5),
    streams: count("streams", "BENCH_STREAMS", 1000),
    streamDurationMs: seconds("stream-seconds", "BENCH_STREAM_SECONDS", 15, 3),
    streamMaxCalls: count("stream-max", "BENCH_STREAM_MAX", 20_000),
    streamLatencyMs: millis("stream-latency-ms", "BENCH_STREAM_LATENCY_MS", 200),
    streamChunkDelayMs: millis("stream-chunk-delay-ms", "BENCH_STREAM_CHUNK_DELAY_MS", 25),
    streamChunks: count("stream-chunks", "BENCH_STREAM_CHUNKS", 32),
    warmupMs: seconds("warmup-seconds", "BENCH_WARMUP_SECONDS", 2, 0.3),
    warmupCalls: millis("warmup-calls", "BENCH_WARMUP_CALLS", quick ? 200 : 5000),
    payloadBytes: Math.round(positive("payload-bytes", flag("payload-bytes", "BENCH_PAYLOAD_BYTES"), 700)),
    pin: !on("no-pin", "BENCH_NO_PIN"),
    routerCpu: cpu("router-cpu", "BENCH_ROUTER_CPU", 0),
    loadCpu: cpu("load-cpu", "BENCH_LOAD_CPU", 1),
    profile: on("profile", "BENCH_PROFILE"),
    routerNodeFlags: (flag("router-node-flags", "BENCH_ROUTER_NODE_FLAGS") ?? "")
      .split(/\s+/)
      .filter(Boolean),
    build: on("build", "BENCH_BUILD"),
    scenarios,
    targets,
    outDir: flag("out", "BENCH_OUT") ?? "bench/out",
  };
}
