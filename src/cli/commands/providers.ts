import { Kvm } from "@nats-io/kv";
import type { Command } from "commander";
import {
  breakerStateAt,
  diffProviderHealth,
  errorRate,
  type ProviderHealth,
  readProviderHealth,
  replayProviderHealth,
  writeProviderHealth,
} from "../../../projections/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { healthPolicyFromConfig } from "../../execution/index.js";
import { KvBuckets } from "../../nats/index.js";
import { connectForCommand } from "../nats-target.js";

function formatMs(value: number | null): string {
  return value === null ? "-" : `${Math.round(value)}`;
}

function healthLines(records: Map<string, ProviderHealth>, nowMs: number): string[] {
  const lines = [
    "provider\tmodel\tbreaker\terror_rate\tconsecutive_failures\tlatency_ewma_ms\tlatency_p95_ms\tok\tfailed\topen_until",
  ];
  for (const health of [...records.values()].sort((a, b) =>
    `${a.provider}/${a.model}`.localeCompare(`${b.provider}/${b.model}`),
  )) {
    lines.push(
      [
        health.provider,
        health.model,
        breakerStateAt(health, nowMs),
        errorRate(health).toFixed(3),
        health.consecutiveFailures,
        formatMs(health.latencyEwmaMs),
        formatMs(health.latencyP95Ms),
        health.totals.ok,
        health.totals.failed,
        health.breaker.openUntil ?? "-",
      ].join("\t"),
    );
  }
  return lines;
}

/** `beamline providers health [--verify] [--rebuild] [--json]`. */
export function registerProvidersCommands(program: Command): void {
  program
    .command("providers")
    .description("model providers")
    .command("health")
    .description("provider/model health and circuit breakers, from the shared projection")
    .option("--verify", "replay the attempt events and report records that differ from the live projection")
    .option("--rebuild", "replay the attempt events and replace the projection (stop the projectors first)")
    .option("--json", "print the records as JSON")
    .action(async (options: { verify?: boolean; rebuild?: boolean; json?: boolean }) => {
      const config = loadConfigFromEnv();
      const policy = healthPolicyFromConfig(config);
      const nc = await connectForCommand(config, "providers-health");
      try {
        const kv = await new Kvm(nc).open(KvBuckets.health);
        let records = await readProviderHealth(kv);
        if (options.verify || options.rebuild) {
          const replayed = await replayProviderHealth(nc, policy);
          const differing = diffProviderHealth(replayed, records);
          if (options.rebuild) {
            await writeProviderHealth(kv, replayed);
            process.stdout.write(`rebuilt ${replayed.size} record(s); ${differing.length} changed\n`);
            records = replayed;
          } else {
            process.stdout.write(
              differing.length === 0
                ? `verified: ${replayed.size} record(s) equal the replay\n`
                : `differs from the replay (a live projector may be behind): ${differing.join(", ")}\n`,
            );
            if (differing.length > 0) process.exitCode = 1;
          }
        }
        if (options.json) process.stdout.write(`${JSON.stringify([...records.values()], null, 2)}\n`);
        else process.stdout.write(`${healthLines(records, Date.now()).join("\n")}\n`);
      } finally {
        await nc.close();
      }
    });
}
