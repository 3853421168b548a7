import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import { fromHealthToken, healthToken } from "../src/nats/index.js";

/**
 * The spend projection: what each tenant spent, per API key, model and UTC day, folded from
 * the usage stream (BL_USAGE) for every tenant, whether or not it has quota limits.
 *
 * KV key layout: `<tenant>.<day>.<key-token>.<model-token>`, e.g.
 * `acme.2026-03-01.key_7Gx.gpt-4_2e1`. Why this order:
 * - the tenant first, so one tenant's spend is the prefix `<tenant>.>` and never touches
 *   another tenant's entries;
 * - the day second, because every spend question is about a period: a range is one prefix
 *   per day (`<tenant>.<day>.>`), so a month is 31 server-side filtered reads, whatever the
 *   tenant's number of keys and models or the length of its history;
 * - key and model last: they are the grouping dimensions, read together with the day.
 * Model names hold dots (`gpt-4.1`), which would split a KV token, so the key id and model are
 * escaped reversibly as BL_HEALTH subjects are (letters, digits and `-` stay, any other byte is
 * `_` and two hex digits); a request without an API key uses the token `_`, which no escaped
 * name can be (an escape is always `_` plus two hex digits).
 */

/** One cell of the projection: a tenant's use of one model through one key on one UTC day. */
export interface SpendRecord {
  tenant: string;
  /** UTC day of the usage record's time, `YYYY-MM-DD`. */
  day: string;
  /** Absent for requests made without an API key (published on NATS by a trusted producer). */
  apiKeyId?: string;
  /** The catalog model id the request was billed for. */
  model: string;
  /** Usage records folded in: billable requests. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Part of `promptTokens` served from the provider's cache. */
  cachedTokens: number;
  /** Billionths of a US dollar: an integer, so sums are exact. */
  costNanoUsd: number;
  /**
   * Highest BL_USAGE stream sequence folded in. The idempotency guard: a record at or below it
   * is already counted. It holds because the projector folds in stream order (an ordered fold:
   * windows folded per cell in sequence order, one instance at a time, the consumer reset to
   * its ack floor after a crash; src/nats/ordered-fold.ts) and a rebuild folds in stream order.
   */
  lastSequence: number;
}

/** The counted amounts of a record or a group of records. */
export type SpendAmounts = Pick<
  SpendRecord,
  "requests" | "promptTokens" | "completionTokens" | "cachedTokens" | "costNanoUsd"
>;

/** KV key token of a request made without an API key. */
export const NO_KEY_TOKEN = "_";

/** UTC day (`YYYY-MM-DD`) of an ISO time. */
export function utcDay(time: string): string {
  return new Date(time).toISOString().slice(0, 10);
}

/** KV key of one cell. */
export function spendKey(tenant: string, day: string, apiKeyId: string | undefined, model: string): string {
  const key = apiKeyId === undefined ? NO_KEY_TOKEN : healthToken(apiKeyId);
  return `${tenant}.${day}.${key}.${healthToken(model)}`;
}

/** The parts of a spend KV key; undefined when the key is not of the projection's layout. */
export function parseSpendKey(
  kvKey: string,
): { tenant: string; day: string; apiKeyId?: string; model: string } | undefined {
  const parts = kvKey.split(".");
  if (parts.length !== 4) return undefined;
  const [tenant, day, key, model] = parts as [string, string, string, string];
  const parsed: { tenant: string; day: string; apiKeyId?: string; model: string } = {
    tenant,
    day,
    model: fromHealthToken(model),
  };
  if (key !== NO_KEY_TOKEN) parsed.apiKeyId = fromHealthToken(key);
  return parsed;
}

/** KV filter of one tenant's cells on one day. */
export function spendDayFilter(tenant: string, day: string): string {
  return `${tenant}.${day}.>`;
}

/** KV filter of every cell of one tenant. */
export function spendTenantFilter(tenant: string): string {
  return `${tenant}.>`;
}

/** KV key of the cell a usage record counts in; undefined for any other event. */
export function spendKvKey(event: BeamlineEvent): string | undefined {
  if (!isEvent(event, "usage.recorded")) return undefined;
  return spendKey(event.tenant, utcDay(event.time), event.data.apiKeyId, event.data.model);
}

/** Zero amounts. */
export function noSpend(): SpendAmounts {
  return { requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, costNanoUsd: 0 };
}

/** `into` plus `amounts`, as a new object. */
export function addSpend(into: SpendAmounts, amounts: SpendAmounts): SpendAmounts {
  return {
    requests: into.requests + amounts.requests,
    promptTokens: into.promptTokens + amounts.promptTokens,
    completionTokens: into.completionTokens + amounts.completionTokens,
    cachedTokens: into.cachedTokens + amounts.cachedTokens,
    costNanoUsd: into.costNanoUsd + amounts.costNanoUsd,
  };
}

/** What one usage record adds to its cell. */
export function usageAmounts(event: BeamlineEvent<"usage.recorded">): SpendAmounts {
  return {
    requests: 1,
    promptTokens: event.data.promptTokens,
    completionTokens: event.data.completionTokens,
    cachedTokens: event.data.cachedTokens,
    costNanoUsd: event.data.costNanoUsd,
  };
}

/**
 * Pure reducer (record, event, sequence) → record, shared by the live projector and the
 * rebuild. A usage record adds its request, tokens and cost to its cell once: a record whose
 * sequence is not above the cell's `lastSequence` (a redelivery, a replay) changes nothing and
 * the input is returned as is. Other events are ignored.
 */
export function reduceSpend(
  record: SpendRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): SpendRecord | undefined {
  if (!isEvent(event, "usage.recorded")) return record;
  if (record && sequence <= record.lastSequence) return record;
  const base: SpendRecord = record ?? {
    tenant: event.tenant,
    day: utcDay(event.time),
    model: event.data.model,
    ...noSpend(),
    lastSequence: 0,
  };
  if (!record && event.data.apiKeyId !== undefined) base.apiKeyId = event.data.apiKeyId;
  return { ...base, ...addSpend(base, usageAmounts(event)), lastSequence: sequence };
}

/** How spend is grouped in an answer. */
export type SpendGroupBy = "key" | "model" | "day";

/** One group of a spend answer. */
export interface SpendGroup extends SpendAmounts {
  /** The API key id, the model, or the day; `null` for requests made without a key. */
  group: string | null;
}

/** A tenant's spend over a range, grouped, with the total. */
export interface SpendSummary {
  groups: SpendGroup[];
  total: SpendAmounts;
}

/**
 * Groups cells by `groupBy` and totals them; only cells whose day lies in [sinceDay, untilDay]
 * (inclusive; an absent end is open) count. Groups are sorted by name, the key-less group last.
 */
export function summariseSpend(
  records: Iterable<SpendRecord>,
  groupBy: SpendGroupBy,
  range: { sinceDay?: string | undefined; untilDay?: string | undefined } = {},
): SpendSummary {
  const groups = new Map<string | null, SpendAmounts>();
  let total = noSpend();
  for (const record of records) {
    if (range.sinceDay !== undefined && record.day < range.sinceDay) continue;
    if (range.untilDay !== undefined && record.day > range.untilDay) continue;
    const group =
      groupBy === "day" ? record.day : groupBy === "model" ? record.model : (record.apiKeyId ?? null);
    groups.set(group, addSpend(groups.get(group) ?? noSpend(), record));
    total = addSpend(total, record);
  }
  const sorted = [...groups.entries()].sort(([a], [b]) =>
    a === null ? 1 : b === null ? -1 : a < b ? -1 : a > b ? 1 : 0,
  );
  return { groups: sorted.map(([group, amounts]) => ({ group, ...amounts })), total };
}
