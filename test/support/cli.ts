import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TEST_EVENT_SIGNING_KEY } from "./signing.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The master key of every test Beamline (in-process and child processes) and every CLI run:
 * fixed, so a command can open what a test Beamline sealed. Never a real deployment's key.
 */
export const TEST_MASTER_KEY = Buffer.alloc(32, 0x42).toString("base64");

/**
 * The test process's environment without Beamline or provider settings, so the machine's own
 * configuration never leaks into a child; only the test master key is set.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { BEAMLINE_MASTER_KEY: TEST_MASTER_KEY };
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(BEAMLINE_|OPENAI_|ANTHROPIC_|GEMINI_|NATS_|LOG_LEVEL$)/.test(name)) env[name] = value;
  }
  return env;
}

/**
 * Runs the `beamline` CLI with `args` as its own process against `natsUrl`, with `env` on top of
 * a clean environment; resolves with its stdout, rejects with its stderr when it fails.
 */
export async function runCli(
  natsUrl: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", ...args],
    {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), NATS_URL: natsUrl, BEAMLINE_EVENT_SIGNING_KEY: TEST_EVENT_SIGNING_KEY, ...env },
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  return stdout;
}

/** Runs the `beamline` CLI like {@link runCli}, resolving with its exit code and output whatever the code. */
export function runCliStatus(
  natsUrl: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      {
        cwd: REPO_ROOT,
        env: { ...cleanEnv(), NATS_URL: natsUrl, BEAMLINE_EVENT_SIGNING_KEY: TEST_EVENT_SIGNING_KEY, ...env },
        encoding: "utf8",
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
