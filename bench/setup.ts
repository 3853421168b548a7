/** What has to be true before measuring: pinned to the load core, `dist/` current. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type { BenchOptions } from "./options.js";
import { allowedCpus } from "./processes.js";

const say = (text: string) => process.stdout.write(`${text}\n`);

/**
 * Runs this very script again under `taskset -c <loadCpu>` unless it already runs on that
 * core alone, so the load generator never competes with the router for its core.
 */
export async function reexecPinned(
  opts: Pick<BenchOptions, "pin" | "loadCpu" | "routerCpu">,
): Promise<boolean> {
  if (!opts.pin) return false;
  const want = String(opts.loadCpu);
  if (allowedCpus() === want) return false;
  const haveTaskset = spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;
  if (!haveTaskset || cpus().length < 2 || Math.max(opts.loadCpu, opts.routerCpu) >= cpus().length) {
    say(
      `warning: cannot pin (taskset ${haveTaskset ? "found" : "missing"}, ${cpus().length} cores); running unpinned`,
    );
    opts.pin = false;
    return false;
  }
  if (process.env["BENCH_PINNED"] === "1")
    throw new Error(`re-executed under taskset but runs on cores ${allowedCpus()}`);
  const child = spawn(
    "taskset",
    ["-c", want, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: "inherit",
      env: { ...process.env, BENCH_PINNED: "1" },
    },
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  const code = await new Promise<number>((done) => child.once("close", (c) => done(c ?? 1)));
  process.exitCode = code;
  return true;
}

/** Newest modification time (ms) of the TypeScript sources `npm run build` compiles. */
function newestSourceMs(repoRoot: string): number {
  let newest = 0;
  for (const folder of ["src", "streams", "projections", "replay"]) {
    const dir = join(repoRoot, folder);
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
      if (file.endsWith(".ts")) newest = Math.max(newest, statSync(join(dir, file)).mtimeMs);
    }
  }
  return newest;
}

/** `bin/beamline.js` runs `dist/`: build it when missing, older than the sources, or asked to. */
export function ensureBuilt(repoRoot: string, opts: Pick<BenchOptions, "build">): void {
  const entry = join(repoRoot, "dist/src/cli/main.js");
  const reason = opts.build
    ? "--build"
    : !existsSync(entry)
      ? "dist/ is missing"
      : statSync(entry).mtimeMs < newestSourceMs(repoRoot)
        ? "dist/ is older than the sources"
        : undefined;
  if (!reason) return;
  say(`building dist/ (${reason}): npm run build`);
  const result = spawnSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) throw new Error("npm run build failed");
}

/** What the result should say about where it was measured. */
export function machineNote(repoRoot: string) {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  const git = (args: string[]) => spawnSync("git", args, { cwd: repoRoot, encoding: "utf8" }).stdout.trim();
  return {
    cpuModel: model ?? "unknown",
    cores: cpus().length,
    node: process.version,
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirtyFiles: git(["status", "--porcelain"]).split("\n").filter(Boolean).length,
  };
}
