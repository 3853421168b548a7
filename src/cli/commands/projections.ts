import type { Command } from "commander";
import { verifyProjections } from "../../../replay/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { connectForCommand } from "../nats-target.js";
import { type Progress, startProgress } from "../progress.js";

/** `beamline projections verify [--rebuild] [--json]`: KV projections against their log. */
export function registerProjectionsCommands(program: Command): void {
  program
    .command("projections")
    .description(
      "KV projections (API keys, tenants, policies, catalog, quotas, spend) and the log they derive from",
    )
    .command("verify")
    .description(
      "replay each projection from its stream and compare it with KV (provider health: `providers health --verify`)",
    )
    .option("--rebuild", "replace KV by the replay (stop the projectors first)")
    .option("--json", "print the comparison as JSON")
    .action(async (options: { rebuild?: boolean; json?: boolean }) => {
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "projections-verify");
      try {
        // One bar per phase, on a terminal only: comparing projections, then rewriting KV.
        const bars: Partial<Record<"compare" | "rebuild", Progress>> = {};
        const checks = await verifyProjections(nc, {
          rebuild: options.rebuild === true,
          onProgress: (phase, done, total) => {
            if (phase === "rebuild" && bars.compare) {
              bars.compare.stop();
              bars.compare = undefined;
            }
            bars[phase] ??= startProgress(phase === "compare" ? "projections" : "rebuild");
            bars[phase].update(done, total);
          },
        }).finally(() => {
          bars.compare?.stop();
          bars.rebuild?.stop();
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
        } else {
          for (const check of checks) {
            const status =
              check.differing.length === 0
                ? "equal"
                : `${check.differing.length} differ: ${check.differing.slice(0, 10).join(", ")}${check.differing.length > 10 ? ", …" : ""}`;
            process.stdout.write(
              `${check.name.padEnd(9)} ${check.bucket.padEnd(14)} replayed ${check.replayed}, stored ${check.stored}: ${status}\n`,
            );
          }
          if (options.rebuild) process.stdout.write("rebuilt: KV now holds the replay\n");
          else if (checks.some((c) => c.differing.length > 0))
            process.stdout.write("(a live projector may still be catching up: run again when idle)\n");
        }
        if (!options.rebuild && checks.some((c) => c.differing.length > 0)) process.exitCode = 1;
      } finally {
        await nc.close();
      }
    });
}
