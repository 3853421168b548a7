import { createRequire } from "node:module";
import type CliProgress from "cli-progress";

// Loaded on the first bar, not with the module: every command imports this file, `start`
// included, and a router never draws a bar (docs/architecture.md, "Router memory").
const require = createRequire(import.meta.url);

/** A progress display for a long read: a bar on a terminal, nothing when output is piped. */
export interface Progress {
  /** Reports `done` of `total` items (total may grow). Cheap enough to call per item. */
  update(done: number, total: number): void;
  /** Removes the bar; call before printing the result. */
  stop(): void;
}

const QUIET: Progress = { update() {}, stop() {} };

/**
 * A progress bar on stderr when stderr is a terminal, labelled `label`; otherwise (piped,
 * CI, `--json` to a file) a no-op, so machine-read output never carries control characters.
 * Redraws at most 10 times a second, whatever the update rate.
 */
export function startProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return QUIET;
  const cliProgress = require("cli-progress") as typeof CliProgress;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% {value}/{total} {rate}/s eta {eta_formatted}`,
      fps: 10,
      etaBuffer: 200,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let startedAt = 0;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0, { rate: 0 });
        started = true;
        startedAt = performance.now();
      }
      if (total !== bar.getTotal()) bar.setTotal(total);
      const seconds = (performance.now() - startedAt) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : 0 });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
