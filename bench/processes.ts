import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A child process the benchmark started and must stop. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Last lines the child wrote (stdout and stderr), to explain a failure. */
  tail(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort: whatever way the benchmark ends, no child outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => process.exit(130));
  }
}

/** `command args…`, prefixed by `taskset -c <cpu>` when a core is given. */
export function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ["taskset", ["-c", String(cpu), command, ...args]];
}

/**
 * Spawns a child whose output is kept (a tail) rather than shown. `taskset` execs the
 * command, so the child's pid is the pinned process itself (what /proc is read for).
 */
export function startChild(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string) => void } = {},
): Child {
  installExitHook();
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  children.add(child);
  let tail = "";
  let partial = "";
  const take = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    tail = (tail + text).slice(-4000);
    if (!options.onLine) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) options.onLine(line);
  };
  child.stdout?.on("data", take);
  child.stderr?.on("data", take);
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => resolve(`error ${error.message}`));
    child.once("close", (code, signal) => {
      children.delete(child);
      resolve(signal ?? `code ${code}`);
    });
  });
  return {
    name,
    pid: child.pid,
    tail: () => tail,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const first = await Promise.race([exited, sleep(graceMs, "timeout")]);
      if (first === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/**
 * Waits until `ready()` yields a value, failing early with the child's output when the
 * child exits, and after `timeoutMs` with a message naming what never became ready.
 */
export async function waitUntil<T>(
  child: Child,
  what: string,
  ready: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let gone: string | undefined;
  void child.exited.then((how) => {
    gone = how;
  });
  for (;;) {
    if (gone !== undefined)
      throw new Error(`${child.name} exited (${gone}) before ${what}:\n${child.tail()}`);
    const value = await Promise.resolve()
      .then(ready)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${child.tail()}`);
    }
    await sleep(50);
  }
}

/** A free TCP port on loopback (another process may still take it before it is bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Resident set size of a process in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time a process (all its threads) has used so far, in milliseconds, split user / kernel. */
export function cpuTimes(pid: number): { userMs: number; systemMs: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const toMs = (ticks: string | undefined) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_SECOND;
    return { userMs: toMs(fields[11]), systemMs: toMs(fields[12]) };
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux build that matters here (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = 100;

/** The cores this process may run on, as the kernel lists them ("0-1", "1"). */
export function allowedCpus(pid: number | "self" = "self"): string | undefined {
  try {
    return /^Cpus_allowed_list:\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** Jiffies of one core from `/proc/stat`: busy (everything but idle and iowait) and stolen by the host. */
interface CoreTimes {
  busy: number;
  steal: number;
  total: number;
}

function readCoreTimes(): Record<string, CoreTimes> {
  const cores: Record<string, CoreTimes> = {};
  try {
    for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
      const match = /^cpu(\d+)\s+(.+)$/.exec(line);
      if (!match) continue;
      const [user, nice, system, idle, iowait, irq, softirq, steal] = match[2]!
        .split(/\s+/)
        .map(Number) as number[];
      const total = user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!;
      cores[`core${match[1]}`] = { busy: total - idle! - iowait! - steal!, steal: steal!, total };
    }
  } catch {
    // Not Linux: no per-core figures.
  }
  return cores;
}

/** How busy a core was over a window (0..1, all processes, ours and others'), and how much the host stole. */
export interface CoreUsage {
  busyShare: number;
  stealShare: number;
}

/** Peak RSS over a window, and CPU used as a share of one core (0..1), user and kernel. */
export interface ProcessUsage {
  peakRssBytes: number;
  coreShare: number;
  userShare: number;
  systemShare: number;
}

/**
 * Samples the RSS and CPU time of some processes every `intervalMs` between `start()` and
 * `stop()`, keeping each one's peak RSS and CPU used over the window.
 */
export class ResourceSampler {
  readonly #pids: Record<string, number>;
  #timer: NodeJS.Timeout | undefined;
  #peak: Record<string, number> = {};
  #cpuAtStart: Record<string, { userMs: number; systemMs: number }> = {};
  #startedAt = 0;
  #coresAtStart: Record<string, CoreTimes> = {};
  /** Per-core usage over the last window, set by `stop()`. */
  cores: Record<string, CoreUsage> = {};

  constructor(pids: Record<string, number>) {
    this.#pids = pids;
  }

  start(intervalMs = 100): void {
    this.#peak = {};
    this.#startedAt = performance.now();
    this.#coresAtStart = readCoreTimes();
    for (const [name, pid] of Object.entries(this.#pids)) {
      this.#cpuAtStart[name] = cpuTimes(pid) ?? { userMs: 0, systemMs: 0 };
    }
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#timer.unref();
  }

  /** Usage of each process over the window since `start()`. */
  stop(): Record<string, ProcessUsage> {
    clearInterval(this.#timer);
    this.#sample();
    const wallMs = performance.now() - this.#startedAt;
    this.cores = {};
    for (const [core, now] of Object.entries(readCoreTimes())) {
      const start = this.#coresAtStart[core];
      const total = start ? now.total - start.total : 0;
      if (!start || total <= 0) continue;
      this.cores[core] = {
        busyShare: (now.busy - start.busy) / total,
        stealShare: (now.steal - start.steal) / total,
      };
    }
    const result: Record<string, ProcessUsage> = {};
    for (const [name, pid] of Object.entries(this.#pids)) {
      const now = cpuTimes(pid);
      const start = this.#cpuAtStart[name];
      const userShare = now && start && wallMs > 0 ? (now.userMs - start.userMs) / wallMs : 0;
      const systemShare = now && start && wallMs > 0 ? (now.systemMs - start.systemMs) / wallMs : 0;
      result[name] = {
        peakRssBytes: this.#peak[name] ?? 0,
        coreShare: userShare + systemShare,
        userShare,
        systemShare,
      };
    }
    return result;
  }

  #sample(): void {
    for (const [name, pid] of Object.entries(this.#pids)) {
      const rss = rssBytes(pid);
      if (rss !== undefined) this.#peak[name] = Math.max(this.#peak[name] ?? 0, rss);
    }
  }
}
