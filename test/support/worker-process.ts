import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cleanEnv } from "./cli.js";
import { TEST_EVENT_SIGNING_KEY } from "./signing.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/**
 * A stopping process drains for at most its drain timeout (30 s by default), then closes each
 * part within a grace (src/runtime/shutdown-steps.ts): past this, something is stuck.
 */
const STOP_TIMEOUT_MS = 90_000;

/** A `beamline start` running as its own process, as an operator would run a worker instance. */
export interface BeamlineProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** True once the process has exited, whatever the cause. */
  hasExited(): boolean;
  /**
   * SIGTERM, then waits for the exit; a no-op when it already exited. A process still running
   * `timeoutMs` later is killed and the stop rejects with its output, so a shutdown that hangs
   * fails the test that saw it instead of keeping the test file from ever ending.
   */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Spawns `node --import tsx src/cli/main.ts start --roles <roles>` with `env` on top of the
 * test process's environment (minus Beamline and provider settings, so the machine's own
 * configuration never leaks into a test). Wait for `output()` to include "Beamline is running".
 */
export function startBeamlineProcess(roles: string, env: Record<string, string>): BeamlineProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start", "--roles", roles], {
    cwd: REPO_ROOT,
    // Metrics on a free port: several processes run on one machine. One deployment: every test
    // process signs and checks with the same event signing key.
    env: {
      ...cleanEnv(),
      LOG_LEVEL: "info",
      BEAMLINE_METRICS_PORT: "0",
      BEAMLINE_EVENT_SIGNING_KEY: TEST_EVENT_SIGNING_KEY,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (data: Buffer) => {
    output += data.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    exited,
    output: () => output,
    hasExited,
    async stop(timeoutMs = STOP_TIMEOUT_MS) {
      if (hasExited()) return;
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const overran = new Promise<"overran">((resolve) => {
        timer = setTimeout(() => resolve("overran"), timeoutMs);
      });
      const outcome = await Promise.race([exited, overran]);
      clearTimeout(timer);
      if (outcome !== "overran") return;
      child.kill("SIGKILL");
      await exited;
      throw new Error(
        `beamline start --roles ${roles} was still running ${timeoutMs} ms after SIGTERM; killed. ` +
          `Its last output:\n${output.slice(-4_000)}`,
      );
    },
  };
}
