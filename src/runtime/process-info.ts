import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** True when a process with this pid exists (signal 0 probes without delivering anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A string that names one incarnation of a process: pid plus start time. A recorded pid can be
 * reused by an unrelated process after a reboot or a long uptime; the start time tells them
 * apart. Linux reads `/proc/<pid>/stat` (start time in clock ticks since boot); elsewhere
 * `ps -o lstart=`. Undefined when the process is gone or neither source exists.
 */
export async function startIdentity(pid: number): Promise<string | undefined> {
  if (process.platform === "linux") {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    if (stat === undefined) return undefined;
    // The command name (field 2) may hold spaces and parentheses; fields after the last ")"
    // start at field 3, so the start time (field 22) is the 20th of them.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] === undefined ? undefined : `${pid}@${fields[19]}`;
  }
  try {
    const { stdout } = await run("ps", ["-o", "lstart=", "-p", String(pid)], { timeout: 5000 });
    const started = stdout.trim();
    return started ? `${pid}@${started}` : undefined;
  } catch {
    return undefined;
  }
}

/** A running process and its argument vector. */
export interface ProcessArgs {
  pid: number;
  args: string[];
}

/**
 * Every process this user can see with its arguments: `/proc/<pid>/cmdline` on Linux (exact
 * argument boundaries, no external tool: slim container images often lack `ps`), otherwise
 * `ps -ax -o pid=,args=` (arguments split on spaces, enough to find a path without spaces).
 */
export async function listProcesses(): Promise<ProcessArgs[]> {
  if (process.platform === "linux") {
    const entries = await readdir("/proc");
    const found: ProcessArgs[] = [];
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
      if (cmdline) found.push({ pid: Number(entry), args: cmdline.split("\0").filter((a) => a !== "") });
    }
    return found;
  }
  const { stdout } = await run("ps", ["-ax", "-o", "pid=,args="], { maxBuffer: 16 << 20, timeout: 10_000 });
  return stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => /^\d+$/.test(parts[0] ?? ""))
    .map(([pid, ...args]) => ({ pid: Number(pid), args }));
}

/**
 * The nats-server processes whose storage directory (`-sd`/`--store_dir`) is `storeDir`: the
 * only processes Beamline ever stops on its own, since two servers on one store corrupt it.
 */
export async function natsServersOnStore(storeDir: string): Promise<number[]> {
  const processes = await listProcesses();
  return processes
    .filter(({ args }) => {
      const binary = args[0]?.split(/[\\/]/).pop() ?? "";
      if (!binary.startsWith("nats-server")) return false;
      return args.some(
        (arg, i) =>
          ((arg === "-sd" || arg === "--sd" || arg === "--store_dir" || arg === "-store_dir") &&
            args[i + 1] === storeDir) ||
          arg === `--store_dir=${storeDir}` ||
          arg === `-sd=${storeDir}`,
      );
    })
    .map(({ pid }) => pid);
}
