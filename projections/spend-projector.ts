import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, SubjectRoots } from "../src/events/index.js";
import type { EventStore, StageHandler } from "../src/nats/index.js";
import {
  ConsumerNames,
  createKvFolder,
  decodeRecord,
  foldIntoKv,
  KvBuckets,
  type KvFolder,
  StreamNames,
} from "../src/nats/index.js";
import { type OrderedFoldOptions, orderedFoldStage } from "./ordered-fold-stage.js";
import { reduceSpend, type SpendRecord, spendDayFilter, spendKvKey, spendTenantFilter } from "./spend.js";

/** KV bucket `bl_spend`: tenant × day × key × model cells (see projections/spend.ts). */
export async function openSpendKv(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(KvBuckets.spend);
}

/** Folds one usage record into its cell, reading the cell first (tools, tests). */
export async function projectSpendEvent(kv: KV, event: BeamlineEvent, sequence: number): Promise<void> {
  const key = spendKvKey(event);
  if (!key) return;
  await foldIntoKv<SpendRecord>(kv, key, (current) => reduceSpend(current, event, sequence), "spend");
}

/**
 * How long usage records are gathered before the spend cells they change are written, ms: a
 * busy cell is written ten times a second instead of once per request. Spend is a report
 * (budgets are enforced from the quota log), so 100 ms of lag costs no correctness.
 */
export const SPEND_FOLD_WINDOW_MS = 100;

/**
 * The live projector: BL_USAGE → KV `bl_spend`, an ordered fold (src/nats/ordered-fold.ts) with
 * one KV write per changed cell per window. A message is acknowledged only once the write that
 * covers it is stored. It remembers the cells it wrote with their revisions, so a write needs no
 * read (a cell is read again only after another instance wrote it).
 */
export async function spendProjector(
  store: EventStore,
  options: OrderedFoldOptions = {},
): Promise<StageHandler> {
  const fold: KvFolder<SpendRecord> = createKvFolder(await openSpendKv(store.nc), "spend");
  return orderedFoldStage(store.nc, {
    stream: StreamNames.usage,
    consumer: ConsumerNames.spendProjector,
    filter: `${SubjectRoots.usage}.>`,
    windowMs: options.windowMs ?? SPEND_FOLD_WINDOW_MS,
    foldKey: (key, events) =>
      fold(key, (current) =>
        events.reduce<SpendRecord | undefined>(
          (record, { event, sequence }) => reduceSpend(record, event, sequence),
          current,
        ),
      ),
    keyOf: spendKvKey,
    onRetry: options.onRetry,
  });
}

/** The longest range read day by day; a longer one reads the tenant's prefix and skips days. */
const MAX_DAY_FILTERS = 400;
const DAY_MS = 86_400_000;

/** Every day from `sinceDay` to `untilDay`, inclusive; undefined when over {@link MAX_DAY_FILTERS}. */
function daysBetween(sinceDay: string, untilDay: string): string[] | undefined {
  const from = Date.parse(`${sinceDay}T00:00:00Z`);
  const to = Date.parse(`${untilDay}T00:00:00Z`);
  const count = Math.floor((to - from) / DAY_MS) + 1;
  if (count > MAX_DAY_FILTERS) return undefined;
  return Array.from({ length: Math.max(0, count) }, (_, i) =>
    new Date(from + i * DAY_MS).toISOString().slice(0, 10),
  );
}

/**
 * A tenant's cells, read by key prefix: one filter per day of the range when both ends are
 * given (and the range is at most 400 days), else the tenant's whole prefix. Cells outside the
 * range may still be yielded on the prefix path: callers filter by day (summariseSpend does).
 */
export async function* readTenantSpend(
  kv: KV,
  tenant: string,
  range: { sinceDay?: string | undefined; untilDay?: string | undefined } = {},
): AsyncGenerator<SpendRecord> {
  const days =
    range.sinceDay !== undefined && range.untilDay !== undefined
      ? daysBetween(range.sinceDay, range.untilDay)
      : undefined;
  if (days && days.length === 0) return;
  const filter = days ? days.map((day) => spendDayFilter(tenant, day)) : spendTenantFilter(tenant);
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  for (const key of keys.sort()) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") yield decodeRecord<SpendRecord>(entry.value);
  }
}
