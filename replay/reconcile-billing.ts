import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  addSpend,
  noSpend,
  type SpendAmounts,
  type SpendRecord,
  spendKvKey,
  usageAmounts,
  utcDay,
} from "../projections/index.js";
import { type ModelCatalog, parseCatalog } from "../src/catalog/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  isEvent,
  quotaSubject,
  RequestSlots,
  requestSubject,
  SubjectRoots,
  usageSubject,
} from "../src/events/index.js";
import {
  ConsumerNames,
  decodeRecord,
  KvBuckets,
  readStream,
  type StoredMessage,
  StreamNames,
} from "../src/nats/index.js";
import { CATALOG_SUBJECT } from "../src/policies/index.js";
import { isBillable, type TerminalEvent } from "../src/stages/index.js";
import { checkRequest, type Discrepancy, DiscrepancyKinds, type RequestFacts } from "./billing-checks.js";

/**
 * `beamline billing reconcile`: proves the usage stream complete and exact against the request
 * log, the quota log and the spend projection, reading all of them as streams.
 *
 * How, and what memory it takes:
 * - Three snapshot reads run side by side — terminals (BL_REQUESTS `…terminal`), settlements
 *   (BL_QUOTA `…settled`) and usage records (BL_USAGE) — merged by store time. Billing writes
 *   a request's settlement and usage record after its terminal is stored, so in that order a
 *   request's facts arrive together: each billable or quota-reserving terminal waits in a
 *   pending map only until its usage record and settlement have been read, then is checked
 *   and dropped. The map holds about the requests of billing's lag, and never more than
 *   `maxPending` (10,000 by default): past that, the oldest entry is settled by point look-ups
 *   (direct get of the request's usage and settlement subjects) instead of waiting.
 * - A usage record or settlement that meets no pending terminal looks its terminal up directly:
 *   none is an orphan; a terminal read by this run already owned the check (or is not
 *   billable, which is a finding); a terminal before `--since` is checked here. A second
 *   record on one usage subject is found by asking for the subject's first message.
 * - The spend projection is compared cell by cell: each cell holds the highest usage sequence
 *   it folded (`lastSequence`, in stream order), so the stream's sum of that cell's records up
 *   to that sequence must equal the cell exactly, even while the projector keeps running.
 *   Records the projector has acknowledged (its ack floor when the run began) must be in their
 *   cell. Only cells of UTC days wholly inside the window are compared; memory holds those
 *   cells (tenants × days × keys × models), never the records.
 * - Catalogs: every `catalog.published` of the config stream, by version (a few documents).
 * So memory is O(maxPending + catalog versions + compared cells), whatever the history length.
 */

export interface ReconcileOptions {
  tenant?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Bound of the pending map (requests waiting for their usage record or settlement). */
  maxPending?: number;
  onProgress?: (read: number, total: number) => void;
}

export interface ReconcileReport {
  terminals: number;
  billableTerminals: number;
  usageRecords: number;
  settlements: number;
  /** Usage totals per tenant over the window, from the stream. */
  tenants: Array<{ tenant: string } & SpendAmounts>;
  /** Spend cells compared with the stream. */
  spendCellsCompared: number;
  /** Usage records the spend projector had not folded yet (lag, not a finding). */
  notYetProjected: number;
  /** Entries settled by point look-ups because the pending map was full, or at the end. */
  lookups: number;
  /** The most requests pending at once. */
  maxPendingSeen: number;
  discrepancies: Discrepancy[];
}

/** How long after its own time a usage record may be stored: the read of BL_USAGE extends this far past `until`. */
const USAGE_STORE_SLACK_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** A message source that shows its next message before it is taken. */
class Cursor {
  head: StoredMessage | undefined;
  private constructor(
    private readonly source: AsyncGenerator<StoredMessage>,
    readonly order: number,
  ) {}
  static async open(source: AsyncGenerator<StoredMessage>, order: number): Promise<Cursor> {
    const cursor = new Cursor(source, order);
    await cursor.advance();
    return cursor;
  }
  async advance(): Promise<void> {
    const next = await this.source.next();
    this.head = next.done ? undefined : next.value;
  }
  async close(): Promise<void> {
    await this.source.return(undefined);
  }
}

interface Pending extends RequestFacts {
  terminal: TerminalEvent;
  needsUsage: boolean;
  needsSettlement: boolean;
}

/** Every catalog the config stream published, by version. */
async function publishedCatalogs(nc: NatsConnection): Promise<Map<string, ModelCatalog>> {
  const catalogs = new Map<string, ModelCatalog>();
  for await (const message of readStream(nc, { stream: StreamNames.config, filters: [CATALOG_SUBJECT] })) {
    const event = decodeEvent(message.data, message.headers);
    if (!isEvent(event, "catalog.published")) continue;
    const catalog = parseCatalog(event.data.catalog);
    catalogs.set(catalog.version, catalog);
  }
  return catalogs;
}

/** Whether the whole UTC day lies inside the window. */
function dayInWindow(day: string, since: Date | undefined, until: Date | undefined): boolean {
  const start = Date.parse(`${day}T00:00:00Z`);
  return (
    (since === undefined || since.getTime() <= start) &&
    (until === undefined || start + DAY_MS - 1 <= until.getTime())
  );
}

/** Reconciles the usage stream; see the module comment for the method. Read-only. */
export async function reconcileBilling(
  nc: NatsConnection,
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  const jsm = await jetstreamManager(nc);
  const tenantToken = options.tenant ?? "*";
  const maxPending = options.maxPending ?? 10_000;
  const { since, until } = options;
  const sinceIso = since?.toISOString();
  const untilIso = until?.toISOString();
  const catalogs = await publishedCatalogs(nc);
  const catalogAt = (version: string) => catalogs.get(version);
  const report: ReconcileReport = {
    terminals: 0,
    billableTerminals: 0,
    usageRecords: 0,
    settlements: 0,
    tenants: [],
    spendCellsCompared: 0,
    notYetProjected: 0,
    lookups: 0,
    maxPendingSeen: 0,
    discrepancies: [],
  };
  const report1 = (facts: RequestFacts) => report.discrepancies.push(...checkRequest(facts, catalogAt));

  // The projector's progress and the cells to compare, taken before the read: a cell can only
  // move on from here, and its lastSequence says exactly which records it holds.
  const projectorFloor = await projectorAckFloor(jsm);
  const cells = await readCells(nc, options.tenant, since, until);
  const cellSums = new Map<string, SpendAmounts>();

  const window = { since, until };
  const usageUntil = until ? new Date(until.getTime() + USAGE_STORE_SLACK_MS) : undefined;
  let read = 0;
  // Each read reports how many messages its filter matched; the bar's total is their sum.
  const matched = [0, 0, 0];
  const progress = (index: number) => (_read: number, total: number) => {
    matched[index] = total;
  };
  const cursors = await Promise.all([
    Cursor.open(
      readStream(nc, {
        stream: StreamNames.requests,
        filters: [`${SubjectRoots.requests}.${tenantToken}.*.${RequestSlots.terminal}`],
        ...window,
        onProgress: progress(0),
      }),
      0,
    ),
    Cursor.open(
      readStream(nc, {
        stream: StreamNames.quota,
        filters: [`${SubjectRoots.quota}.${tenantToken}.*.settled`],
        ...window,
        onProgress: progress(1),
      }),
      1,
    ),
    Cursor.open(
      readStream(nc, {
        stream: StreamNames.usage,
        filters: [`${SubjectRoots.usage}.${tenantToken}.*`],
        since,
        until: usageUntil,
        onProgress: progress(2),
      }),
      2,
    ),
  ]);
  const [terminals, settlements] = cursors as [Cursor, Cursor, Cursor];
  const pending = new Map<string, Pending>();
  const tenantTotals = new Map<string, SpendAmounts>();

  const inWindow = (storedAt: string) =>
    (sinceIso === undefined || storedAt >= sinceIso) && (untilIso === undefined || storedAt <= untilIso);

  /** Settles an entry by looking up what has not arrived, then checks it. */
  const resolve = async (entry: Pending) => {
    report.lookups++;
    if (entry.needsUsage && !entry.usage) entry.usage = await lookupUsage(jsm, entry.tenant, entry.requestId);
    if (entry.needsSettlement && !entry.settled)
      entry.settled = await lookupSettlement(jsm, entry.tenant, entry.requestId);
    report1(entry);
  };
  const completeIfDone = (key: string, entry: Pending) => {
    if ((entry.needsUsage && !entry.usage) || (entry.needsSettlement && !entry.settled)) return;
    pending.delete(key);
    report1(entry);
  };

  try {
    for (;;) {
      const next = cursors
        .filter((c) => c.head !== undefined)
        .sort((a, b) =>
          a.head!.storedAt < b.head!.storedAt
            ? -1
            : a.head!.storedAt > b.head!.storedAt
              ? 1
              : a.order - b.order,
        )[0];
      if (!next) break;
      const message = next.head!;
      await next.advance();
      read++;
      options.onProgress?.(read, Math.max(matched[0]! + matched[1]! + matched[2]!, read));
      const event = decodeEvent(message.data, message.headers);
      const key = `${event.tenant}/${event.requestId}`;

      if (next === terminals) {
        if (!isEvent(event, "request.completed") && !isEvent(event, "request.failed")) continue;
        report.terminals++;
        const entry: Pending = {
          tenant: event.tenant,
          requestId: event.requestId,
          terminal: event,
          needsUsage: isBillable(event),
          needsSettlement: event.data.quotaReserved === true,
        };
        if (entry.needsUsage) report.billableTerminals++;
        if (!entry.needsUsage && !entry.needsSettlement) continue;
        pending.set(key, entry);
        report.maxPendingSeen = Math.max(report.maxPendingSeen, pending.size);
        if (pending.size > maxPending) {
          const [oldestKey, oldest] = pending.entries().next().value as [string, Pending];
          pending.delete(oldestKey);
          await resolve(oldest);
        }
      } else if (next === settlements) {
        if (!isEvent(event, "quota.settled")) continue;
        report.settlements++;
        const entry = pending.get(key);
        if (entry) {
          if (!entry.needsSettlement) unexpectedSettlement(event);
          else {
            entry.settled = event;
            completeIfDone(key, entry);
          }
          continue;
        }
        await unmatched(event, message, undefined);
      } else {
        if (!isEvent(event, "usage.recorded")) continue;
        const stored = message.storedAt;
        countForProjection(event, message.seq);
        if (untilIso !== undefined && stored > untilIso) {
          // Read past the window only so the spend cells of the last day are whole.
          const entry = pending.get(key);
          if (entry?.needsUsage && !entry.usage) {
            entry.usage = event;
            completeIfDone(key, entry);
          }
          continue;
        }
        report.usageRecords++;
        const amounts = usageAmounts(event);
        tenantTotals.set(event.tenant, addSpend(tenantTotals.get(event.tenant) ?? noSpend(), amounts));
        const entry = pending.get(key);
        if (entry) {
          if (entry.usage) entry.extraUsage = (entry.extraUsage ?? 0) + 1;
          else entry.usage = event;
          completeIfDone(key, entry);
          continue;
        }
        await unmatched(event, message, event);
      }
    }
    for (const entry of pending.values()) await resolve(entry);
    pending.clear();
  } finally {
    await Promise.all(cursors.map((c) => c.close()));
  }

  /**
   * A usage record or settlement whose terminal is not pending: an orphan, a record of a
   * terminal before the window (checked here), or one whose terminal this run already checked.
   */
  async function unmatched(
    event: BeamlineEvent,
    message: StoredMessage,
    usage: BeamlineEvent<"usage.recorded"> | undefined,
  ): Promise<void> {
    report.lookups++;
    const found = await lookupTerminal(jsm, event.tenant, event.requestId);
    const settled = isEvent(event, "quota.settled") ? event : undefined;
    if (usage && (await hasEarlierOnSubject(jsm, StreamNames.usage, message.subject, message.seq))) {
      report1({ tenant: event.tenant, requestId: event.requestId, extraUsage: 1 });
      return;
    }
    if (!found) {
      report1({ tenant: event.tenant, requestId: event.requestId, usage, settled });
      return;
    }
    const terminal = found.event;
    if (found.storedAt && inWindow(found.storedAt)) {
      // This run read the terminal: it owned the check, unless the terminal needed nothing.
      if (usage && !isBillable(terminal)) {
        report.discrepancies.push({
          kind: DiscrepancyKinds.usageNotBillable,
          tenant: event.tenant,
          requestId: event.requestId,
          expected: "no usage record (no tokens billed)",
          found: usage.data.costNanoUsd,
        });
      }
      if (settled && terminal.data.quotaReserved !== true) unexpectedSettlement(settled);
      return;
    }
    // The terminal is before the window: check the pair here, from this side.
    const facts: RequestFacts = { tenant: event.tenant, requestId: event.requestId, terminal };
    if (usage) {
      facts.usage = usage;
      if (terminal.data.quotaReserved === true)
        facts.settled = await lookupSettlement(jsm, event.tenant, event.requestId);
    } else if (settled) {
      // Checked from the usage side when the request was billed; alone only when it was not.
      if (isBillable(terminal)) return;
      facts.settled = settled;
    }
    report1(facts);
  }

  function unexpectedSettlement(settled: BeamlineEvent<"quota.settled">): void {
    report.discrepancies.push({
      kind: DiscrepancyKinds.settlementUnexpected,
      tenant: settled.tenant,
      requestId: settled.requestId,
      expected: "no settlement (nothing reserved)",
      found: settled.data.actual,
    });
  }

  function countForProjection(event: BeamlineEvent<"usage.recorded">, seq: number): void {
    const cellKey = spendKvKey(event)!;
    const cell = cells.get(cellKey);
    const day = utcDay(event.time);
    if (!dayInWindow(day, since, until)) return;
    if (cell && seq <= cell.lastSequence) {
      cellSums.set(cellKey, addSpend(cellSums.get(cellKey) ?? noSpend(), usageAmounts(event)));
    } else if (seq <= projectorFloor) {
      // Acknowledged by the projector, yet not in its cell.
      cellSums.set(cellKey, addSpend(cellSums.get(cellKey) ?? noSpend(), usageAmounts(event)));
      if (!cell) cells.set(cellKey, missingCell(event));
    } else {
      report.notYetProjected++;
    }
  }

  for (const [cellKey, cell] of cells) {
    report.spendCellsCompared++;
    const expected = cellSums.get(cellKey) ?? noSpend();
    const found: SpendAmounts = {
      requests: cell.requests,
      promptTokens: cell.promptTokens,
      completionTokens: cell.completionTokens,
      cachedTokens: cell.cachedTokens,
      costNanoUsd: cell.costNanoUsd,
    };
    if (JSON.stringify(expected) !== JSON.stringify(found)) {
      report.discrepancies.push({
        kind: DiscrepancyKinds.spendProjectionMismatch,
        tenant: cell.tenant,
        requestId: null,
        expected,
        found,
        field: cellKey,
      });
    }
  }
  report.tenants = [...tenantTotals.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([tenant, amounts]) => ({ tenant, ...amounts }));
  return report;
}

/** A cell the projection lacks, with zero amounts, so its comparison reports what is missing. */
function missingCell(event: BeamlineEvent<"usage.recorded">): SpendRecord {
  return {
    tenant: event.tenant,
    day: utcDay(event.time),
    model: event.data.model,
    ...noSpend(),
    lastSequence: 0,
  };
}

/** The spend projector's acknowledged stream sequence (0 when it has no consumer yet). */
async function projectorAckFloor(jsm: JetStreamManager): Promise<number> {
  try {
    return (await jsm.consumers.info(StreamNames.usage, ConsumerNames.spendProjector)).ack_floor.stream_seq;
  } catch {
    return 0;
  }
}

/** The spend cells of the days wholly inside the window (of one tenant, or all). */
async function readCells(
  nc: NatsConnection,
  tenant: string | undefined,
  since: Date | undefined,
  until: Date | undefined,
): Promise<Map<string, SpendRecord>> {
  const cells = new Map<string, SpendRecord>();
  const kv = await new Kvm(nc).open(KvBuckets.spend);
  const keys: string[] = [];
  for await (const key of await kv.keys(tenant ? `${tenant}.>` : ">")) keys.push(key);
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry?.operation !== "PUT") continue;
    const cell = decodeRecord<SpendRecord>(entry.value);
    if (dayInWindow(cell.day, since, until)) cells.set(key, cell);
  }
  return cells;
}

async function lookupEvent(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<{ event: BeamlineEvent; storedAt: string } | undefined> {
  const found = await jsm.direct.getMessage(stream, { last_by_subj: subject });
  if (!found) return undefined;
  return { event: decodeEvent(found.data, found.header), storedAt: found.time.toISOString() };
}

async function lookupTerminal(
  jsm: JetStreamManager,
  tenant: string,
  requestId: string,
): Promise<{ event: TerminalEvent; storedAt: string } | undefined> {
  const found = await lookupEvent(
    jsm,
    StreamNames.requests,
    requestSubject(tenant, requestId, RequestSlots.terminal),
  );
  if (!found) return undefined;
  const { event } = found;
  if (!isEvent(event, "request.completed") && !isEvent(event, "request.failed")) return undefined;
  return { event, storedAt: found.storedAt };
}

async function lookupUsage(
  jsm: JetStreamManager,
  tenant: string,
  requestId: string,
): Promise<BeamlineEvent<"usage.recorded"> | undefined> {
  const found = await lookupEvent(jsm, StreamNames.usage, usageSubject(tenant, requestId));
  return found && isEvent(found.event, "usage.recorded") ? found.event : undefined;
}

async function lookupSettlement(
  jsm: JetStreamManager,
  tenant: string,
  requestId: string,
): Promise<BeamlineEvent<"quota.settled"> | undefined> {
  const found = await lookupEvent(jsm, StreamNames.quota, quotaSubject(tenant, requestId, "settled"));
  return found && isEvent(found.event, "quota.settled") ? found.event : undefined;
}

/** Whether `subject` holds a message before `seq`: a second write to a write-once subject. */
async function hasEarlierOnSubject(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  seq: number,
): Promise<boolean> {
  const first = await jsm.direct.getMessage(stream, { next_by_subj: subject, seq: 1 });
  return first !== null && first.seq < seq;
}
