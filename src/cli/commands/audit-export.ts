import { once } from "node:events";
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import type { Command } from "commander";
import {
  formatAuditLine,
  type HistoryRecord,
  openTenantExport,
  readTenantHistory,
  requestTimeline,
  TIMELINE_HEADERS,
  timelineRows,
} from "../../../replay/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { assertRequestId, assertTenantId } from "../../events/index.js";
import { contentOpener } from "../../runtime/index.js";
import { connectForCommand } from "../nats-target.js";
import { startProgress } from "../progress.js";
import { formatTable } from "../table.js";
import { parseTimeRange } from "../time-range.js";

interface ExportOptions {
  tenant: string;
  since?: string;
  until?: string;
  request?: string;
  types?: string;
  out?: string;
  json?: boolean;
}

/**
 * `beamline audit export` and `beamline requests show`: a tenant's history as JSONL, one
 * request as a timeline. The `audit` command is shared with other audit subcommands, so it is
 * looked up before it is created.
 */
export function registerAuditExportCommands(program: Command): void {
  const audit =
    program.commands.find((command) => command.name() === "audit") ??
    program.command("audit").description("the log as the tenant's auditable record");
  audit
    .command("export")
    .description(
      "write a tenant's history (requests, quota, usage, tenant/key/policy configuration) as JSONL, one event per line (docs/audit.md)",
    )
    .requiredOption("--tenant <tenant>", "tenant id")
    .option("--since <time>", "only events stored at or after this ISO-8601 time")
    .option("--until <time>", "only events stored at or before this ISO-8601 time")
    .option("--request <requestId>", "only this request's events")
    .option("--types <types>", "only these event types, comma-separated (e.g. request.failed,usage.recorded)")
    .option("--out <file>", "write to this file instead of stdout")
    .option("--json", "JSONL on stdout (the export's only format; the summary on stderr becomes JSON too)")
    .action(async (options: ExportOptions) => {
      const range = parseTimeRange(options);
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "audit-export");
      const progress = startProgress(`export ${options.tenant}`);
      let count = 0;
      let out: Writable = process.stdout;
      try {
        const chunks = await openTenantExport(
          nc,
          { tenant: options.tenant, ...range, requestId: options.request, types: options.types },
          {
            onProgress: (read, total) => progress.update(read, total),
            onEvent: () => count++,
            // Prompts and completions opened with this machine's master key, else marked encrypted / erased.
            openContent: await contentOpener(config, nc),
          },
        );
        // The file is opened once the request is valid: a refused export leaves no empty file.
        if (options.out) out = createWriteStream(options.out);
        for await (const chunk of chunks) {
          if (!out.write(chunk)) await once(out, "drain");
        }
      } finally {
        progress.stop();
        if (out !== process.stdout) {
          out.end();
          await once(out, "finish");
        }
        await nc.close();
      }
      const tenant = options.tenant;
      const summary = { tenant, events: count, ...(options.out ? { out: options.out } : {}) };
      process.stderr.write(
        options.json
          ? `${JSON.stringify(summary)}\n`
          : `exported ${count} event(s) of tenant ${tenant}${options.out ? ` to ${options.out}` : ""}\n`,
      );
    });

  program
    .command("requests")
    .description("request history")
    .command("show <tenant> <requestId>")
    .description(
      "one request as a timeline: each step's offset from acceptance, duration, provider/model, tokens, cost and outcome",
    )
    .option("--json", "the request's full events as JSONL (the `audit export` line format)")
    .action(async (tenantArgument: string, requestArgument: string, options: { json?: boolean }) => {
      const tenant = assertTenantId(tenantArgument);
      const requestId = assertRequestId(requestArgument);
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "requests");
      const records: HistoryRecord[] = [];
      try {
        // One request's history is small (a few dozen events): held whole to compute offsets.
        const openContent = await contentOpener(config, nc);
        for await (const record of readTenantHistory(nc, { tenant, requestId }, { openContent })) {
          records.push(record);
        }
      } finally {
        await nc.close();
      }
      if (records.length === 0) {
        throw new BeamlineError("BL_NOT_FOUND", `No events for request ${requestId} of tenant ${tenant}.`);
      }
      if (options.json) {
        process.stdout.write(records.map((record) => `${formatAuditLine(record)}\n`).join(""));
        return;
      }
      process.stdout.write(formatTable(TIMELINE_HEADERS, timelineRows(requestTimeline(records))));
    });
}
