import { parseArgs } from "node:util";
import { envPairs, positive } from "./options.js";

/** Everything a soak run can be told, after defaults. Durations in milliseconds. */
export interface SoakOptions {
  /** Length of the fixed-rate run. */
  durationMs: number;
  /** Fixed arrival rate (requests per second); undefined: `share` of the maximum measured first. */
  rate: number | undefined;
  /** Fraction of the measured maximum to run at when no rate is given. */
  share: number;
  /** Length of the closed-loop probe that measures the maximum (after a short warm-up). */
  probeMs: number;
  /** Requests in flight during the probe. */
  probeConcurrency: number;
  /** Fraction of requests sent as SSE streams; the rest are plain. */
  streamedShare: number;
  /** How often RSS, heap and latency are recorded. */
  sampleMs: number;
  /** Samples before this are warm-up: not part of the flatness and ceiling verdicts. */
  warmupMs: number;
  /** Print only the JSON report on stdout. */
  json: boolean;
  pin: boolean;
  routerCpu: number;
  loadCpu: number;
  build: boolean;
  /** Extra environment of the router (e.g. `GOMEMLIMIT=200MiB`, a Beamline setting), KEY=VALUE. */
  routerEnv: Record<string, string>;
  /** Extra `node` flags for the router. */
  routerNodeFlags: string[];
  outDir: string;
  /**
   * Diagnosis, not the user's setup: run nats-server as the soak's own child (same storage
   * flags as the embedded one, plus its profiling port) so its Go heap can be read; each
   * sample forces a GC there first, so its RSS is lower than an undisturbed server's.
   */
  diagnose: boolean;
}

const HELP = `Usage: node --import tsx bench/soak.ts [options]   (or npm run bench:soak -- [options])

Runs the router with its embedded nats-server, as npm start does, at a fixed rate of mixed
plain and streamed requests, and records the RSS of both every 10 s.

  --minutes <m>             duration of the fixed-rate run (default 15)
  --rate <n>                fixed arrivals per second (default: --share of the measured maximum)
  --share <f>               fraction of the measured maximum (default 0.6)
  --probe-seconds <s>       closed-loop probe that measures the maximum (default 20)
  --probe-concurrency <n>   requests in flight during the probe (default 64)
  --streamed <f>            fraction of requests streamed over SSE (default 0.25)
  --sample-seconds <s>      sampling interval (default 10)
  --warmup-minutes <m>      leading part not judged for flatness (default min(2, minutes/3))
  --router-env KEY=VALUE    extra router environment, repeatable (experiments)
  --router-node-flags <f>   extra node flags for the router
  --diagnose                run nats-server as the soak's child with its profiling port, and record
                            its Go heap and the top allocation sites (not the user's setup)
  --json                    print only the JSON report
  --no-pin                  do not pin processes with taskset
  --router-cpu <n>          core of the router and its nats-server (default 0)
  --load-cpu <n>            core of the load generator and the mock (default 1)
  --build                   rebuild dist/ even if it is newer than the sources
  --out <dir>               output folder for the CSV and JSON series (default bench/out)`;

function fraction(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new Error(`--${name} must be between 0 and 1, got ${raw}`);
  return value;
}

function core(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a core number`);
  return value;
}

/** Parses the soak's flags; prints help and exits on `--help`. */
export function parseSoakOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: "string" },
      rate: { type: "string" },
      share: { type: "string" },
      "probe-seconds": { type: "string" },
      "probe-concurrency": { type: "string" },
      streamed: { type: "string" },
      "sample-seconds": { type: "string" },
      "warmup-minutes": { type: "string" },
      "router-env": { type: "string", multiple: true },
      "router-node-flags": { type: "string" },
      json: { type: "boolean" },
      diagnose: { type: "boolean" },
      "no-pin": { type: "boolean" },
      "router-cpu": { type: "string" },
      "load-cpu": { type: "string" },
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
  const minutes = positive("minutes", values.minutes, 15);
  const routerEnv = envPairs(values["router-env"]);
  const warmupMinutes = positive("warmup-minutes", values["warmup-minutes"], Math.min(2, minutes / 3));
  if (warmupMinutes >= minutes) throw new Error("--warmup-minutes must be shorter than --minutes");
  return {
    durationMs: Math.round(minutes * 60_000),
    rate: values.rate === undefined ? undefined : positive("rate", values.rate, 1),
    share: fraction("share", values.share, 0.6),
    probeMs: Math.round(positive("probe-seconds", values["probe-seconds"], 20) * 1000),
    probeConcurrency: Math.round(positive("probe-concurrency", values["probe-concurrency"], 64)),
    streamedShare: fraction("streamed", values.streamed, 0.25),
    sampleMs: Math.round(positive("sample-seconds", values["sample-seconds"], 10) * 1000),
    warmupMs: Math.round(warmupMinutes * 60_000),
    json: values.json === true,
    pin: values["no-pin"] !== true,
    routerCpu: core("router-cpu", values["router-cpu"], 0),
    loadCpu: core("load-cpu", values["load-cpu"], 1),
    build: values.build === true,
    routerEnv,
    routerNodeFlags: (values["router-node-flags"] ?? "").split(/\s+/).filter(Boolean),
    outDir: values.out ?? "bench/out",
    diagnose: values.diagnose === true,
  };
}
