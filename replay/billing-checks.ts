import {
  computeCost,
  discountedCost,
  formatNanoUsd,
  type ModelCatalog,
  type RecordedPrices,
  recordedPrices,
  sumCosts,
} from "../src/catalog/index.js";
import type { BeamlineEvent } from "../src/events/index.js";
import { cacheHitOf, isBillable, type TerminalEvent } from "../src/stages/index.js";

/**
 * The pure half of `beamline billing reconcile`: given one request's terminal event, usage
 * record and quota settlement (any of them possibly missing) and the catalogs the log
 * published, the list of what does not add up. No I/O; the reading is in reconcile-billing.ts.
 */

/** What reconciliation can find wrong. */
export const DiscrepancyKinds = {
  /** A billable terminal has no usage record. */
  usageMissing: "usage-missing",
  /** A usage record has no terminal event. */
  usageOrphan: "usage-orphan",
  /** A usage record exists for a terminal that is not billable. */
  usageNotBillable: "usage-not-billable",
  /** A second usage record for one request. */
  usageDuplicate: "usage-duplicate",
  /** The usage record says something else than its terminal (tokens, model, catalog version…). */
  usageMismatch: "usage-mismatch",
  /** The recorded cost is not what the recorded prices and tokens give. */
  costMismatch: "cost-mismatch",
  /** The recorded prices are not the prices of the recorded catalog version in the log. */
  priceMismatch: "price-mismatch",
  /** The catalog version (or its model) is not in the log's catalog history. */
  catalogUnknown: "catalog-unknown",
  /** A request that reserved quota has no settlement. */
  settlementMissing: "settlement-missing",
  /** A settlement for a request with no terminal, or that reserved nothing. */
  settlementUnexpected: "settlement-unexpected",
  /** The settled amounts differ from the usage record's. */
  settlementMismatch: "settlement-mismatch",
  /** A spend projection cell differs from the sum of its usage records. */
  spendProjectionMismatch: "spend-projection-mismatch",
} as const;
export type DiscrepancyKind = (typeof DiscrepancyKinds)[keyof typeof DiscrepancyKinds];

/** One finding: what, whose, and the two sides. */
export interface Discrepancy {
  kind: DiscrepancyKind;
  tenant: string;
  /** The request; null for findings about a projection cell. */
  requestId: string | null;
  /** What the log says it should be (or which field differs). */
  expected: unknown;
  found: unknown;
  /** The field or cell concerned, when one is. */
  field?: string;
}

/** One request's facts as reconciliation reads them. */
export interface RequestFacts {
  tenant: string;
  requestId: string;
  terminal?: TerminalEvent | undefined;
  usage?: BeamlineEvent<"usage.recorded"> | undefined;
  settled?: BeamlineEvent<"quota.settled"> | undefined;
  /** More usage records were stored for this request than the one above. */
  extraUsage?: number;
}

/** Catalogs by version, as the log published them. */
export type CatalogLookup = (version: string) => ModelCatalog | undefined;

/** Everything wrong with one request's billing; empty when it reconciles. */
export function checkRequest(facts: RequestFacts, catalogAt: CatalogLookup): Discrepancy[] {
  const { tenant, requestId, terminal, usage, settled } = facts;
  const out: Discrepancy[] = [];
  const finding = (kind: DiscrepancyKind, expected: unknown, found: unknown, field?: string) => {
    const d: Discrepancy = { kind, tenant, requestId, expected, found };
    if (field !== undefined) d.field = field;
    out.push(d);
  };
  if (facts.extraUsage) finding(DiscrepancyKinds.usageDuplicate, 1, 1 + facts.extraUsage, "usage records");

  if (!terminal) {
    if (usage) finding(DiscrepancyKinds.usageOrphan, "a terminal event", "none");
    if (settled) finding(DiscrepancyKinds.settlementUnexpected, "a terminal event", "none");
    return out;
  }
  const billable = isBillable(terminal);
  if (billable && !usage) finding(DiscrepancyKinds.usageMissing, "one usage record", "none");
  if (!billable && usage)
    finding(DiscrepancyKinds.usageNotBillable, "no usage record (no tokens billed)", usage.data.costNanoUsd);
  if (billable && usage) {
    out.push(...checkUsageAgainstTerminal(terminal, usage).map((d) => ({ ...d, tenant, requestId })));
    out.push(...checkCost(usage, catalogAt).map((d) => ({ ...d, tenant, requestId })));
  }

  const reserved = terminal.data.quotaReserved === true;
  if (reserved && !settled) finding(DiscrepancyKinds.settlementMissing, "one quota.settled", "none");
  if (!reserved && settled)
    finding(DiscrepancyKinds.settlementUnexpected, "no settlement (nothing reserved)", settled.data.actual);
  if (reserved && settled) {
    const expected =
      usage && billable
        ? {
            // The record's cost already includes its hedge extras; their tokens are apart.
            tokens: [usage.data, ...(usage.data.extra ?? [])].reduce(
              (sum, u) => sum + u.promptTokens + u.completionTokens,
              0,
            ),
            costNanoUsd: usage.data.costNanoUsd,
          }
        : { tokens: 0, costNanoUsd: 0 };
    const found = settled.data.actual;
    if (found.tokens !== expected.tokens || found.costNanoUsd !== expected.costNanoUsd)
      finding(DiscrepancyKinds.settlementMismatch, expected, found, "actual");
  }
  return out;
}

type Partial = Omit<Discrepancy, "tenant" | "requestId">;

/** The usage record repeats what the terminal says: outcome, provider, model, key, tokens, catalog. */
function checkUsageAgainstTerminal(
  terminal: TerminalEvent,
  usage: BeamlineEvent<"usage.recorded">,
): Partial[] {
  const out: Partial[] = [];
  const t = terminal.data;
  const u = usage.data;
  const pairs: Array<[string, unknown, unknown]> = [
    ["outcome", terminal.type === "request.completed" ? "completed" : "failed", u.outcome],
    ["provider", t.provider, u.provider],
    ["model", t.model, u.model],
    ["apiKeyId", t.apiKeyId, u.apiKeyId],
    ["promptTokens", t.usage?.promptTokens, u.promptTokens],
    ["completionTokens", t.usage?.completionTokens, u.completionTokens],
    ["cachedTokens", t.usage?.cachedTokens, u.cachedTokens],
  ];
  // An answer from the response cache is billed as one, at the discount the terminal names.
  const hit = cacheHitOf(terminal);
  pairs.push(["cached", hit !== undefined, u.cached === true]);
  if (hit) pairs.push(["cacheDiscountPercent", hit.discountPercent, u.cacheDiscountPercent]);
  // A terminal without a catalog version was billed with the catalog current at billing time.
  if (t.catalogVersion !== undefined) pairs.push(["catalogVersion", t.catalogVersion, u.catalogVersion]);
  // A hedge's cancelled losers: the record bills exactly the attempts the terminal names.
  const named = t.hedgeExtra ?? [];
  const billed = u.extra ?? [];
  pairs.push(["extra.length", named.length, billed.length]);
  named.forEach((extra, i) => {
    const found = billed[i];
    if (!found) return;
    for (const field of EXTRA_FIELDS) pairs.push([`extra[${i}].${field}`, extra[field], found[field]]);
  });
  for (const [field, expected, found] of pairs) {
    if (expected !== found) out.push({ kind: DiscrepancyKinds.usageMismatch, expected, found, field });
  }
  return out;
}

/** The fields of a hedge extra that the usage record repeats from its terminal. */
const EXTRA_FIELDS = [
  "attempt",
  "provider",
  "model",
  "promptTokens",
  "completionTokens",
  "cachedTokens",
  "estimated",
] as const;

/** The cost follows from the recorded prices and tokens, and the prices from the catalog version. */
function checkCost(usage: BeamlineEvent<"usage.recorded">, catalogAt: CatalogLookup): Partial[] {
  const out: Partial[] = [];
  const u = usage.data;
  const full = computeCost({ prices: u.prices }, u);
  const answer = u.cached ? discountedCost(full, u.cacheDiscountPercent ?? 100) : full;
  const extras = u.extra ?? [];
  // Each extra's cost follows from its own prices and tokens; the record's is the sum.
  const derived = sumCosts([answer, ...extras.map((extra) => computeCost({ prices: extra.prices }, extra))]);
  extras.forEach((extra, i) => {
    const own = computeCost({ prices: extra.prices }, extra);
    for (const field of ["costNanoUsd", "costUsd"] as const) {
      if (own[field] !== extra[field])
        out.push({
          kind: DiscrepancyKinds.costMismatch,
          expected: own[field],
          found: extra[field],
          field: `extra[${i}].${field}`,
        });
    }
  });
  if (derived.costNanoUsd !== u.costNanoUsd)
    out.push({
      kind: DiscrepancyKinds.costMismatch,
      expected: derived.costNanoUsd,
      found: u.costNanoUsd,
      field: "costNanoUsd",
    });
  if (formatNanoUsd(u.costNanoUsd) !== u.costUsd)
    out.push({
      kind: DiscrepancyKinds.costMismatch,
      expected: formatNanoUsd(u.costNanoUsd),
      found: u.costUsd,
      field: "costUsd",
    });
  const catalog = catalogAt(u.catalogVersion);
  out.push(...checkPrices(catalog, u.catalogVersion, u.model, u.prices, ""));
  extras.forEach((extra, i) => {
    out.push(...checkPrices(catalog, u.catalogVersion, extra.model, extra.prices, `extra[${i}].`));
  });
  return out;
}

/** The recorded prices of `modelId` are those of the catalog version in the log. */
function checkPrices(
  catalog: ModelCatalog | undefined,
  version: string,
  modelId: string,
  prices: RecordedPrices,
  prefix: string,
): Partial[] {
  const model = catalog?.resolve(modelId);
  if (!model)
    return [
      {
        kind: DiscrepancyKinds.catalogUnknown,
        expected: `model ${modelId} in a published catalog ${version}`,
        found: "none",
        field: `${prefix}catalogVersion`,
      },
    ];
  const out: Partial[] = [];
  const catalogPrices = recordedPrices(model);
  for (const field of ["inputPerMTokUsd", "outputPerMTokUsd", "cachedInputPerMTokUsd"] as const) {
    if (catalogPrices[field] !== prices[field])
      out.push({
        kind: DiscrepancyKinds.priceMismatch,
        expected: catalogPrices[field],
        found: prices[field],
        field: `${prefix}prices.${field}`,
      });
  }
  return out;
}
