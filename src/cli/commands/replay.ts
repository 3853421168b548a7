import type { NatsConnection } from "@nats-io/transport-node";
import type { Command } from "commander";
import { type DecisionMismatch, runWhatIf, verifyDecisions, type WhatIfRun } from "../../../replay/index.js";
import { formatNanoUsd, type ModelCatalog, parseCatalog } from "../../catalog/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { assertTenantId } from "../../events/index.js";
import { parsePolicyDocument, type VersionedPolicy } from "../../routing/index.js";
import { openContentAtRest } from "../../runtime/index.js";
import { connectForCommand } from "../nats-target.js";
import { startProgress } from "../progress.js";
import { formatTable } from "../table.js";
import { parseTimeRange } from "../time-range.js";
import { readJsonArgument } from "./read-json.js";

interface WindowOptions {
  since?: string;
  until?: string;
  json?: boolean;
}

const show = (value: unknown) => (typeof value === "string" ? value : (JSON.stringify(value) ?? "(absent)"));

function mismatchLines(m: DecisionMismatch): string {
  const head = `mismatch ${m.tenant}/${m.requestId} (seq ${m.seq}, ${m.time})`;
  if (m.problem) return `${head}: ${m.problem}\n`;
  return `${head}\n${m.differences.map((d) => `  ${d.path}: recorded ${show(d.recorded)}, recomputed ${show(d.recomputed)}\n`).join("")}`;
}

/** `beamline decisions verify` and `beamline whatif`: the routing record, re-derived and re-routed. */
export function registerReplayCommands(program: Command): void {
  program
    .command("decisions")
    .description("recorded routing decisions")
    .command("verify")
    .description(
      "re-derive every recorded route.decided with the policy engine, from the policy and catalog versions in the log",
    )
    .option("--tenant <tenant>", "only this tenant's decisions")
    .option("--since <time>", "decisions stored at or after this ISO-8601 time")
    .option("--until <time>", "decisions stored at or before this ISO-8601 time")
    .option("--json", "JSON lines: one per mismatch, then a summary")
    .action(async (options: WindowOptions & { tenant?: string }) => {
      const range = parseTimeRange(options);
      if (options.tenant !== undefined) assertTenantId(options.tenant);
      const nc = await connectForCommand(loadConfigFromEnv(), "decisions-verify");
      const progress = startProgress("decisions");
      try {
        const codec = await contentCodec(nc);
        const result = await verifyDecisions(nc, {
          decode: (payload, headers) => codec.decode(payload, headers),
          ...(options.tenant ? { tenant: options.tenant } : {}),
          ...range,
          onProgress: (read, total) => progress.update(read, total),
          onMismatch: (m) => {
            progress.stop();
            process.stdout.write(
              options.json ? `${JSON.stringify({ kind: "mismatch", ...m })}\n` : mismatchLines(m),
            );
          },
        });
        progress.stop();
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ kind: "summary", ...result })}\n`
            : `${result.identical} of ${result.decisions} decisions re-derived identically${result.unreadable > 0 ? ` (${result.unreadable} not verifiable: their content is erased or sealed without a master key here)` : ""}\n`,
        );
        if (result.mismatched > 0) process.exitCode = 1;
      } finally {
        progress.stop();
        await nc.close();
      }
    });

  program
    .command("whatif")
    .description(
      "route a tenant's recorded requests again under another policy and/or catalog (prices), and evaluate the policy's cache and hedge sections; calls no provider",
    )
    .requiredOption("--tenant <tenant>", "the tenant whose requests to replay")
    .option("--policy <file>", "the alternative policy document (JSON)")
    .option("--catalog <file>", "the alternative model catalog (JSON): alone, the period at new prices")
    .option("--since <time>", "requests stored at or after this ISO-8601 time")
    .option("--until <time>", "requests stored at or before this ISO-8601 time")
    .option("--json", "print the report as one JSON document")
    .action(async (options: WindowOptions & { tenant: string; policy?: string; catalog?: string }) => {
      const tenant = assertTenantId(options.tenant);
      const range = parseTimeRange(options);
      if (options.policy === undefined && options.catalog === undefined) {
        throw new BeamlineError("BL_BAD_REQUEST", "whatif needs --policy FILE, --catalog FILE or both");
      }
      // An unpublished document has no version; 1 keeps it a tenant policy rather than the default.
      const policy: VersionedPolicy | undefined =
        options.policy === undefined
          ? undefined
          : {
              tenant,
              version: 1,
              document: parsePolicyDocument(await readJsonArgument(options.policy, "policy document")),
            };
      const catalog = options.catalog === undefined ? undefined : await readCatalog(options.catalog);
      const nc = await connectForCommand(loadConfigFromEnv(), "whatif");
      const progress = startProgress("requests");
      try {
        const codec = await contentCodec(nc);
        const run = await runWhatIf(nc, {
          decode: (payload, headers) => codec.decode(payload, headers),
          tenant,
          alternative: { ...(policy ? { policy } : {}), ...(catalog ? { catalog } : {}) },
          ...range,
          onProgress: (read, total) => progress.update(read, total),
        });
        progress.stop();
        const document = {
          tenant,
          alternative: {
            policy: options.policy ?? null,
            catalogVersion: catalog?.version ?? null,
          },
          ...run,
        };
        process.stdout.write(options.json ? `${JSON.stringify(document, null, 2)}\n` : formatWhatIf(run));
        if (run.report.totals.refused > 0 || run.skipped.missingDocuments > 0) process.exitCode = 1;
      } finally {
        progress.stop();
        await nc.close();
      }
    });
}

async function readCatalog(path: string): Promise<ModelCatalog> {
  const document = await readJsonArgument(path, "catalog");
  try {
    return parseCatalog(document);
  } catch (error) {
    throw new BeamlineError("BL_CATALOG_INVALID", (error as Error).message, { cause: error });
  }
}

const usd = (nano: number) => (nano < 0 ? `-$${formatNanoUsd(-nano)}` : `$${formatNanoUsd(nano)}`);
const ms = (value: number | null) => (value === null ? "unknown" : `${value > 0 ? "+" : ""}${value} ms`);

function formatWhatIf({ report, skipped, cache, hedge }: WhatIfRun): string {
  const { totals } = report;
  const rows = report.models.map((m) => [
    `${m.provider}/${m.model}`,
    String(m.recorded.requests),
    usd(m.recorded.costNanoUsd),
    String(m.alternative.requests),
    usd(m.alternative.costNanoUsd),
    m.latency.medianMs === null ? "unknown" : `${m.latency.medianMs} ms`,
    ms(m.expectedLatencyChangeMs),
  ]);
  rows.push([
    "total",
    String(totals.requests),
    usd(totals.recordedCostNanoUsd),
    String(totals.requests - totals.refused),
    usd(totals.alternativeCostNanoUsd),
    "",
    ms(totals.expectedLatencyChangeMs),
  ]);
  let text = formatTable(
    [
      "model",
      "recorded",
      "recorded cost",
      "alternative",
      "alternative cost",
      "median latency",
      "latency change",
    ],
    rows,
  );
  text += `cost change: ${usd(totals.costChangeNanoUsd)}; ${totals.rerouted} request(s) routed to another model, ${totals.tokensReestimated} with re-estimated prompt tokens; latency change unknown for ${totals.latencyUnknown}\n`;
  if (report.refusals.length > 0) {
    text += `the alternative refuses ${totals.refused} request(s):\n`;
    for (const r of report.refusals)
      text += `  ${r.requests} × ${r.code}: ${r.reason} (e.g. ${r.examples.join(", ")})\n`;
  }
  if (cache) text += formatCache(cache);
  if (hedge) text += formatHedge(hedge);
  const skippedTotal = skipped.undecided + skipped.missingDocuments + skipped.incomplete + skipped.unreadable;
  if (skippedTotal > 0) {
    text += `not replayed: ${skipped.undecided} without a recorded decision, ${skipped.missingDocuments} naming a policy or catalog version missing from the log, ${skipped.incomplete} incomplete in the window, ${skipped.unreadable} whose content is erased or sealed without a master key here\n`;
  }
  return text;
}

function formatCache(cache: NonNullable<WhatIfRun["cache"]>): string {
  const p = cache.policy;
  let text = `\ncache (exact, ttl ${p.ttlSeconds} s, scope ${p.scope}, hits ${p.discountPercent}% off${p.includeNonDeterministic ? ", sampled requests included" : ""}):\n`;
  text += formatTable(
    ["requests", "hits", "misses", "saved", "sampled", "content store", "bypass header", "unknown"],
    [
      [
        String(cache.requests),
        String(cache.hits),
        String(cache.misses),
        usd(cache.savedNanoUsd),
        String(cache.notCacheable.sampled),
        String(cache.notCacheable.content_store),
        String(cache.notCacheable.bypass_header),
        String(cache.unknown),
      ],
    ],
  );
  if (cache.unknown > 0)
    text += `${cache.unknown} request(s) unknown: their content is erased or sealed without a master key here, so their key cannot be computed\n`;
  return text;
}

function formatHedge(hedge: NonNullable<WhatIfRun["hedge"]>): string {
  const p = hedge.policy;
  const deadline = [
    p.afterPercentile !== undefined ? `p${p.afterPercentile} of recorded first-token times` : "",
    p.afterMs !== undefined ? `${p.afterMs} ms` : "",
  ]
    .filter(Boolean)
    .join(", else ");
  const d = hedge.declined;
  let text = `\nhedge (after ${deadline}):\n`;
  text += formatTable(
    ["requests", "hedged", "not needed", "declined", "unknown", "extra cost (estimate)"],
    [
      [
        String(hedge.requests),
        String(hedge.hedged),
        String(hedge.notNeeded),
        String(d.no_latency_data + d.no_candidate + d.max_hedges_per_minute + d.max_extra_cost_per_day),
        String(hedge.unknown),
        usd(hedge.extraCostNanoUsd),
      ],
    ],
  );
  text += `declined: ${d.no_latency_data} no latency data, ${d.no_candidate} no next candidate, ${d.max_hedges_per_minute} over maxHedgesPerMinute, ${d.max_extra_cost_per_day} over maxExtraCostUsdPerDay\n`;
  text += `extra cost is an estimate: the next candidate's prices × each hedged request's recorded tokens\n`;
  const bound = hedge.latency.firstTokenLowerBoundMeanMs;
  const recorded = hedge.latency.recordedFirstTokenMeanMs;
  text += `latency is a bound only: a hedge cannot produce a token before its deadline + the next candidate's recorded median first-token time; hedged requests: first token no earlier than ${bound === null ? "unknown" : `${bound} ms`} on average (recorded: ${recorded === null ? "unknown" : `${recorded} ms`}${hedge.latency.boundUnknown > 0 ? `; ${hedge.latency.boundUnknown} without a recorded median for the next candidate` : ""})\n`;
  return text;
}

/**
 * The store codec for a command that re-routes recorded requests: the engine re-counts the
 * prompt, so sealed content is opened with this machine's master key when it has one.
 */
async function contentCodec(nc: NatsConnection) {
  const { codec } = await openContentAtRest(loadConfigFromEnv(), nc, {
    modeOf: () => "encrypted",
    create: false,
  });
  return codec;
}
