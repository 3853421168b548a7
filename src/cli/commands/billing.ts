import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import type { Command } from "commander";
import { readUsageRecords, reconcileBilling, toUsageCloudEvent } from "../../../replay/index.js";
import { formatNanoUsd } from "../../catalog/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { assertTenantId } from "../../events/index.js";
import { connectForCommand } from "../nats-target.js";
import { startProgress } from "../progress.js";
import { parseTimeRange } from "../time-range.js";

interface WindowOptions {
  tenant?: string;
  since?: string;
  until?: string;
  json?: boolean;
}

/** Writes a line to `out`, waiting when its buffer is full, so a long export stays flat in memory. */
async function writeLine(out: NodeJS.WritableStream | WriteStream, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await once(out, "drain");
}

/**
 * `beamline billing reconcile` and `beamline usage export`: the usage stream proved against
 * the log, and handed to billing systems (docs/usage-stream.md).
 */
export function registerBillingCommands(program: Command): void {
  program
    .command("billing")
    .description("billing: the usage stream checked against the request log, quotas and spend")
    .command("reconcile")
    .description(
      "prove the usage stream complete and exact: one usage record per billable terminal, costs re-derived from recorded prices, settlements and the spend projection agreeing; exits 1 on any discrepancy",
    )
    .option("--tenant <tenant>", "only this tenant")
    .option("--since <time>", "from this store time (ISO-8601)")
    .option("--until <time>", "up to this store time (ISO-8601)")
    .option("--json", "print the report as one JSON document")
    .action(async (options: WindowOptions) => {
      const range = parseTimeRange(options);
      const tenant = options.tenant === undefined ? undefined : assertTenantId(options.tenant);
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "billing-reconcile");
      const progress = startProgress("reconciling");
      try {
        const report = await reconcileBilling(nc, {
          tenant,
          since: range.since,
          until: range.until,
          onProgress: (read, total) => progress.update(read, total),
        });
        progress.stop();
        if (options.json) {
          process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        } else {
          process.stdout.write(
            `${report.terminals} terminal events (${report.billableTerminals} billable), ${report.usageRecords} usage records, ${report.settlements} quota settlements, ${report.spendCellsCompared} spend cells compared\n`,
          );
          for (const t of report.tenants) {
            process.stdout.write(
              `  ${t.tenant}: ${t.requests} requests, ${t.promptTokens} prompt / ${t.completionTokens} completion / ${t.cachedTokens} cached tokens, ${formatNanoUsd(t.costNanoUsd)} USD\n`,
            );
          }
          if (report.notYetProjected > 0)
            process.stdout.write(
              `  (${report.notYetProjected} usage records not yet projected into spend: projector lag)\n`,
            );
          for (const d of report.discrepancies) {
            process.stdout.write(
              `${d.kind}\t${d.tenant}\t${d.requestId ?? "-"}\t${d.field ? `${d.field}: ` : ""}expected ${JSON.stringify(d.expected)}, found ${JSON.stringify(d.found)}\n`,
            );
          }
          process.stdout.write(
            report.discrepancies.length === 0
              ? "reconciled: the usage stream is complete and exact\n"
              : `${report.discrepancies.length} discrepancies\n`,
          );
        }
        if (report.discrepancies.length > 0) process.exitCode = 1;
      } finally {
        progress.stop();
        await nc.close();
      }
    });

  program
    .command("usage")
    .description("the usage stream (BL_USAGE), for billing systems")
    .command("export")
    .description("write usage records, one per line: CloudEvents 1.0 structured JSON or Beamline events")
    .option("--format <format>", "cloudevents | jsonl", "cloudevents")
    .option("--tenant <tenant>", "only this tenant")
    .option("--since <time>", "from this store time (ISO-8601)")
    .option("--until <time>", "up to this store time (ISO-8601)")
    .option("--out <file>", "write to this file instead of stdout")
    .option("--json", "accepted for symmetry: the output is JSONL in either format")
    .action(async (options: WindowOptions & { format: string; out?: string }) => {
      if (options.format !== "cloudevents" && options.format !== "jsonl") {
        throw new BeamlineError(
          "BL_BAD_REQUEST",
          `--format ${JSON.stringify(options.format)}: use cloudevents or jsonl`,
          {
            param: "format",
          },
        );
      }
      const range = parseTimeRange(options);
      const tenant = options.tenant === undefined ? undefined : assertTenantId(options.tenant);
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "usage-export");
      const out = options.out ? createWriteStream(options.out) : process.stdout;
      const progress = startProgress("exporting usage");
      try {
        for await (const { seq, subject, event } of readUsageRecords(nc, {
          tenant,
          since: range.since,
          until: range.until,
          onProgress: (read, total) => progress.update(read, total),
        })) {
          const line =
            options.format === "cloudevents"
              ? toUsageCloudEvent(event)
              : { stream: "BL_USAGE", seq, subject, ...event };
          await writeLine(out, JSON.stringify(line));
        }
      } finally {
        progress.stop();
        if (out !== process.stdout) {
          (out as WriteStream).end();
          await once(out, "finish");
        }
        await nc.close();
      }
    });
}
