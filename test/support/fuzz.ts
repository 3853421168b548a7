import { readFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import fc from "fast-check";
import { BeamlineError, ErrorCodes } from "../../src/errors/index.js";
import { decodeEvent, encodeEvent } from "../../src/events/index.js";
import {
  adminCases,
  anthropicCases,
  type EventCase,
  eventCases,
  type FuzzCase,
  type FuzzCredentials,
  type HttpCase,
  openAiCases,
  type RawCase,
  rawCases,
} from "./fuzz-cases.js";

export type FuzzTarget = FuzzCase["target"];

/** How many of the cases each target gets. */
const SHARES: Record<FuzzTarget, number> = {
  openai: 0.3,
  anthropic: 0.3,
  admin: 0.15,
  raw: 0.1,
  events: 0.15,
};
/** Concurrent lanes per target: enough to keep two cores busy, few enough to stay polite. */
const LANES: Record<FuzzTarget, number> = { openai: 4, anthropic: 4, admin: 2, raw: 2, events: 1 };
/** Cases drawn per `fc.sample` call: bounds what a lane holds in memory at once. */
const BATCH = 100;
/** One case's time limit; a door that answers nothing within it is a finding. */
const CASE_TIMEOUT_MS = 30_000;

/** What a fuzz run found. `violations` are the cases that broke a rule; the target is 0. */
export interface FuzzSummary {
  seed: number;
  cases: number;
  durationMs: number;
  byTarget: Record<string, number>;
  /** HTTP status → count (events count as "ok" / "rejected"). */
  byStatus: Record<string, number>;
  /** Stable code → count, over every rejection (4xx answers and refused events). */
  rejectionsByCode: Record<string, number>;
  serverErrors: number;
  /** Cases that killed a connection or the process, or threw outside Beamline's errors. */
  crashes: number;
  violations: number;
  /** The first violations, each with the input that caused it. */
  examples: Array<{ target: string; problem: string; input: string }>;
  rssStartBytes: number;
  rssWarmBytes: number;
  rssEndBytes: number;
  rssMaxBytes: number;
  /** Memory after a full GC (when `--expose-gc` allows one) at evenly spaced points of the run. */
  memory: MemorySample[];
}

/**
 * One point of the memory series. RSS alone cannot tell a leak from allocator slack: a heap
 * that stays level after GC while RSS rises is fragmentation or buffers, a rising heap is a leak.
 */
export interface MemorySample {
  cases: number;
  seconds: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory outside the V8 heap held by JS objects (Buffers, typed arrays). */
  externalBytes: number;
  /** RSS of the nats-server under test, when its pid was given and /proc can be read. */
  natsServerRssBytes?: number;
  /** The run's counts so far, so a run stopped early still says what it found. */
  serverErrors: number;
  crashes: number;
  violations: number;
}

interface Outcome {
  status: string;
  code?: string;
  problem?: string;
  crash?: boolean;
}

export interface FuzzOptions {
  /** The gateway, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  credentials: FuzzCredentials;
  /** Total cases over all targets. */
  cases: number;
  seed?: number;
  /** Called after every case with the number done so far. */
  onProgress?: (done: number) => void;
  /** Memory samples over the run (default 50, evenly spaced), plus one after the first case and one at the end. */
  memorySamples?: number;
  /** Called with each memory sample as it is taken (after the GC that precedes it). */
  onMemorySample?: (sample: MemorySample) => void | Promise<void>;
  /** The nats-server's pid, to record its RSS beside Beamline's. */
  natsServerPid?: number;
  /** Called with each violation as it is found (the summary keeps only the first 20). */
  onViolation?: (example: FuzzSummary["examples"][number]) => void;
  /** Stops the run early: lanes start no new case, and the summary covers the cases done. */
  signal?: AbortSignal;
}

/**
 * Runs `cases` generated cases against a running Beamline, lanes in parallel, and checks every
 * answer: no 5xx, every rejection a 4xx whose body carries a documented code, every case
 * answered, no event payload that decodes into anything but an event or Beamline's own error.
 * Cases come from fast-check (`fc.sample` per batch with a seed derived from `seed`, lane and
 * batch), so a run is reproducible from its seed.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const started = Date.now();
  const summary: FuzzSummary = {
    seed,
    cases: 0,
    durationMs: 0,
    byTarget: {},
    byStatus: {},
    rejectionsByCode: {},
    serverErrors: 0,
    crashes: 0,
    violations: 0,
    examples: [],
    rssStartBytes: rss(),
    rssWarmBytes: 0,
    rssEndBytes: 0,
    rssMaxBytes: 0,
    memory: [],
  };
  const warmAt = Math.ceil(options.cases / 10);
  const sampleEvery = Math.max(1, Math.floor(options.cases / Math.max(1, options.memorySamples ?? 50)));
  const takeSample = () => {
    const sample = {
      ...memorySample(summary.cases, Date.now() - started, options.natsServerPid),
      serverErrors: summary.serverErrors,
      crashes: summary.crashes,
      violations: summary.violations,
    };
    summary.memory.push(sample);
    // The hook may be slow (a heap snapshot); the run goes on meanwhile, as its lanes are independent.
    void options.onMemorySample?.(sample);
  };
  const record = (fuzzCase: FuzzCase, outcome: Outcome) => {
    summary.cases++;
    bump(summary.byTarget, fuzzCase.target);
    bump(summary.byStatus, outcome.status);
    if (outcome.code) bump(summary.rejectionsByCode, outcome.code);
    if (outcome.status.startsWith("5")) summary.serverErrors++;
    if (outcome.crash) summary.crashes++;
    if (outcome.problem) {
      summary.violations++;
      const example = { target: fuzzCase.target, problem: outcome.problem, input: describeCase(fuzzCase) };
      if (summary.examples.length < 20) summary.examples.push(example);
      options.onViolation?.(example);
    }
    if (summary.cases === warmAt) summary.rssWarmBytes = rss();
    if (summary.cases === 1 || summary.cases % sampleEvery === 0) takeSample();
    options.onProgress?.(summary.cases);
  };
  // An error escaping Beamline's handlers would end an ordinary process; here it is counted.
  const onEscaped = (error: unknown) => {
    summary.crashes++;
    summary.violations++;
    // The stack is what finds the code that let it escape: the message alone rarely does.
    const stack = error instanceof Error && error.stack ? error.stack : String(error);
    const example = { target: "process", problem: `uncaught: ${stack}`.slice(0, 1500), input: "" };
    if (summary.examples.length < 20) summary.examples.push(example);
    options.onViolation?.(example);
  };
  process.on("uncaughtException", onEscaped);
  process.on("unhandledRejection", onEscaped);
  const sampler = setInterval(() => {
    summary.rssMaxBytes = Math.max(summary.rssMaxBytes, process.memoryUsage().rss);
  }, 500);
  try {
    const arbitraries: Record<FuzzTarget, fc.Arbitrary<FuzzCase>> = {
      openai: openAiCases(options.credentials),
      anthropic: anthropicCases(options.credentials),
      admin: adminCases(options.credentials),
      raw: rawCases,
      events: eventCases,
    };
    const lanes: Promise<void>[] = [];
    let assigned = 0;
    const targets = Object.keys(SHARES) as FuzzTarget[];
    for (const [t, target] of targets.entries()) {
      const share =
        t === targets.length - 1 ? options.cases - assigned : Math.floor(options.cases * SHARES[target]);
      assigned += share;
      for (let lane = 0; lane < LANES[target]; lane++) {
        const count = Math.floor(share / LANES[target]) + (lane < share % LANES[target] ? 1 : 0);
        const laneSeed = (seed + t * 1_000_003 + lane * 7_919) % 2 ** 31;
        lanes.push(runLane(arbitraries[target], count, laneSeed, options, record));
      }
    }
    await Promise.all(lanes);
  } finally {
    clearInterval(sampler);
    process.off("uncaughtException", onEscaped);
    process.off("unhandledRejection", onEscaped);
  }
  summary.durationMs = Date.now() - started;
  summary.rssEndBytes = rss();
  summary.rssMaxBytes = Math.max(summary.rssMaxBytes, summary.rssEndBytes);
  if (summary.memory.at(-1)?.cases !== summary.cases) takeSample();
  return summary;
}

async function runLane(
  arbitrary: fc.Arbitrary<FuzzCase>,
  count: number,
  seed: number,
  { baseUrl, signal }: FuzzOptions,
  record: (fuzzCase: FuzzCase, outcome: Outcome) => void,
): Promise<void> {
  for (let batch = 0; batch * BATCH < count; batch++) {
    const size = Math.min(BATCH, count - batch * BATCH);
    const cases = fc.sample(arbitrary, { numRuns: size, seed: (seed + batch * 104_729) % 2 ** 31 });
    for (const fuzzCase of cases) {
      if (signal?.aborted) return;
      record(fuzzCase, await runCase(fuzzCase, baseUrl));
    }
    // In-process cases settle as microtasks: give timers and sockets their turn between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Sends one case and judges the answer. */
export async function runCase(fuzzCase: FuzzCase, baseUrl: string): Promise<Outcome> {
  switch (fuzzCase.kind) {
    case "http":
      return runHttpCase(fuzzCase, baseUrl);
    case "raw":
      return runRawCase(fuzzCase, baseUrl);
    case "event":
      return runEventCase(fuzzCase);
  }
}

async function runHttpCase(fuzzCase: HttpCase, baseUrl: string): Promise<Outcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${baseUrl}${fuzzCase.path}`, {
      method: fuzzCase.method,
      headers: fuzzCase.headers,
      ...(fuzzCase.body === undefined ? {} : { body: fuzzCase.body }),
      signal: AbortSignal.timeout(CASE_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (error) {
    return { status: "no answer", crash: true, problem: `no answer: ${describeError(error)}` };
  }
  return judge(response.status, text);
}

/** Writes the bytes and reads one answer: up to the end of its body (content-length) or the close. */
function runRawCase(fuzzCase: RawCase, baseUrl: string): Promise<Outcome> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connectTcp({ host: hostname, port: Number(port) });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const judgeReceived = (): Outcome | undefined => {
      const text = received.toString("latin1");
      const headerEnd = text.indexOf("\r\n\r\n");
      if (headerEnd < 0) return undefined;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      if (!status) return { status: "garbled", problem: `not an HTTP answer: ${text.slice(0, 80)}` };
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headerEnd))?.[1];
      const body = received
        .subarray(Buffer.byteLength(text.slice(0, headerEnd + 4), "latin1"))
        .toString("utf8");
      if (length !== undefined && Buffer.byteLength(body) < Number(length)) return undefined;
      return judge(Number(status), body);
    };
    const timer = setTimeout(
      () => finish({ status: "no answer", problem: "no answer within the time limit" }),
      CASE_TIMEOUT_MS,
    );
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const outcome = judgeReceived();
      if (outcome) finish(outcome);
    });
    // Only line breaks: no request has begun (HTTP lets a server skip empty lines before the
    // request line), so the server rightly waits for one. The client then ends its side, and
    // a close without an answer is the right outcome; an answer is judged as any other.
    const noRequest = /^[\r\n]*$/.test(Buffer.from(fuzzCase.bytes).toString("latin1"));
    socket.on("close", () => {
      const outcome = received.length === 0 ? undefined : judgeReceived();
      if (!outcome && noRequest && received.length === 0) return finish({ status: "no request" });
      finish(outcome ?? { status: "closed", problem: "the connection closed without an answer" });
    });
    // A reset after the answer was read is fine; before it, `close` reports what was missing.
    socket.on("error", () => undefined);
    socket.write(fuzzCase.bytes);
    if (noRequest) socket.end();
  });
}

const EVENT_CODES = new Set(["BL_EVENT_INVALID", "BL_EVENT_VERSION_UNSUPPORTED"]);

/** Decodes like a consumer, then re-encodes what was accepted, like a stage storing it again. */
function runEventCase(fuzzCase: EventCase): Outcome {
  const headers = { get: (name: string) => (name === "content-type" ? (fuzzCase.contentType ?? "") : "") };
  try {
    encodeEvent(decodeEvent(fuzzCase.payload, headers));
    return { status: "ok" };
  } catch (error) {
    if (error instanceof BeamlineError && EVENT_CODES.has(error.code)) {
      return { status: "rejected", code: error.code };
    }
    return {
      status: "threw",
      crash: true,
      problem: `threw outside Beamline's event errors: ${describeError(error)}`,
    };
  }
}

/** The rules every HTTP answer must follow. */
function judge(status: number, body: string): Outcome {
  if (status >= 500) return { status: String(status), problem: `${status}: ${body.slice(0, 200)}` };
  if (status < 400) return { status: String(status) };
  const code = codeOf(body);
  if (code === undefined || !Object.hasOwn(ErrorCodes, code)) {
    return {
      status: String(status),
      problem: `${status} without a documented BL code: ${body.slice(0, 200)}`,
    };
  }
  return { status: String(status), code };
}

/** `error.code` of an OpenAI- or Anthropic-shaped error body. */
function codeOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === "string" ? parsed.error.code : undefined;
  } catch {
    return undefined;
  }
}

/** A short, printable description of a case, enough to replay it by hand. */
export function describeCase(fuzzCase: FuzzCase): string {
  const preview = (bytes: string | Uint8Array | Buffer | undefined) => {
    if (bytes === undefined) return "(none)";
    const text = typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("latin1");
    return `${JSON.stringify(text.slice(0, 300))}${text.length > 300 ? `… (${text.length} chars)` : ""}`;
  };
  switch (fuzzCase.kind) {
    case "http":
      return `${fuzzCase.method} ${fuzzCase.path} headers=${JSON.stringify(fuzzCase.headers)} body=${preview(fuzzCase.body)}`;
    case "raw":
      return `raw ${preview(fuzzCase.bytes)}`;
    case "event":
      return `event content-type=${fuzzCase.contentType} payload=${preview(fuzzCase.payload)}`;
  }
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return `${String(error)}${cause ? ` (cause: ${String(cause)})` : ""}`.slice(0, 300);
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function memorySample(
  cases: number,
  elapsedMs: number,
  natsServerPid: number | undefined,
): Omit<MemorySample, "serverErrors" | "crashes" | "violations"> {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  const natsServerRssBytes = natsServerPid === undefined ? undefined : procRss(natsServerPid);
  return {
    cases,
    seconds: Math.round(elapsedMs / 100) / 10,
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    ...(natsServerRssBytes === undefined ? {} : { natsServerRssBytes }),
  };
}

/** VmRSS of another process from /proc (Linux); undefined where that cannot be read. */
function procRss(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}
