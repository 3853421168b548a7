import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Names a headless-capable Chromium goes by on Debian, Ubuntu and elsewhere, in order of preference. */
const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/**
 * The Chromium executable for browser tests: `CHROMIUM_PATH` when set, else the first of the
 * usual names found on PATH. Undefined when none is installed, so a test can skip and say why.
 */
export function chromiumExecutable(): string | undefined {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return existsSync(configured) ? configured : undefined;
  for (const name of CANDIDATES) {
    try {
      const found = execFileSync("which", [name], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
      if (found) return found;
    } catch {
      // Not on PATH: try the next name.
    }
  }
  return undefined;
}

/** Why a browser test is skipped, or false when a browser is available. */
export function chromiumSkipReason(): string | false {
  return chromiumExecutable() === undefined
    ? "no Chromium found: set CHROMIUM_PATH or install chromium (Debian: apt-get install chromium)"
    : false;
}
