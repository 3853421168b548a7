import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../src/errors/index.js";
import {
  assertRequestId,
  assertTenantId,
  type ContentState,
  decodeEnvelope,
  type Envelope,
  EventHeaders,
  LEGACY_API_KEY_FILTER,
  requestHistoryFilter,
  SubjectRoots,
  splitContent,
  tenantApiKeyFilter,
  tenantHistoryFilter,
  tenantQuotaFilter,
  tenantUsageFilter,
  usageSubject,
} from "../src/events/index.js";
import { isPermissionDenied, readStream, type StoredMessage, StreamNames } from "../src/nats/index.js";
import { formatAuditLine, type HistoryRecord, parseEventTypes, tenantStreamOfType } from "./audit-line.js";

/** What part of one tenant's history to read. */
export interface TenantHistoryQuery {
  tenant: string;
  /** Only events stored at or after this time (a server-side seek in every stream). */
  since?: Date | undefined;
  /** Only events stored at or before this time. */
  until?: Date | undefined;
  /** Only this request's events (request, quota and usage facts; no configuration events). */
  requestId?: string | undefined;
  /** Only these event types (checked on the `bl-type` header, before decoding). */
  types?: ReadonlySet<string> | undefined;
}

/** One stream's share of a tenant history: its subject filters, and a check for shared subjects. */
export interface HistorySource {
  stream: string;
  filters: string[];
  /**
   * Filters a tenant-scoped credential is refused (they name no tenant); such a reader gets
   * the rest of the history without them.
   */
  optionalFilters?: string[];
  /**
   * Keeps a message of a filter that other tenants share (legacy API key events, which carry
   * no tenant in their subject); absent means every message of `filters` is the tenant's.
   */
  keep?(message: StoredMessage): boolean;
}

/**
 * The streams and subject filters that hold one tenant's facts, in a fixed order (the
 * tie-break of the merge). Every filter names the tenant, except the legacy API key subjects
 * `bl.cfg.apikey.<keyId>`, written before key events were tenant-scoped: those are read and
 * kept only when their `bl-tenant` header (or envelope) names the tenant, and only by a reader
 * allowed every tenant's configuration (a tenant-scoped auditor is refused them, and reads the
 * rest).
 */
export function tenantHistorySources(query: TenantHistoryQuery): HistorySource[] {
  const { tenant, requestId } = query;
  const sources: HistorySource[] = [];
  if (requestId !== undefined) {
    sources.push({ stream: StreamNames.requests, filters: [requestHistoryFilter(tenant, requestId)] });
    sources.push({
      stream: StreamNames.quota,
      filters: [`${SubjectRoots.quota}.${tenant}.${requestId}.>`],
    });
    sources.push({ stream: StreamNames.usage, filters: [usageSubject(tenant, requestId)] });
  } else {
    sources.push({ stream: StreamNames.requests, filters: [tenantHistoryFilter(tenant)] });
    sources.push({ stream: StreamNames.quota, filters: [tenantQuotaFilter(tenant)] });
    sources.push({ stream: StreamNames.usage, filters: [tenantUsageFilter(tenant)] });
    sources.push({
      stream: StreamNames.config,
      filters: [
        `${SubjectRoots.config}.tenant.${tenant}`,
        `${SubjectRoots.config}.policy.${tenant}`,
        tenantApiKeyFilter(tenant),
      ],
      optionalFilters: [LEGACY_API_KEY_FILTER],
      keep: (message) => !isLegacyApiKeySubject(message.subject) || tenantOf(message) === tenant,
    });
  }
  const { types } = query;
  if (!types) return sources;
  const wanted = new Set([...types].map(tenantStreamOfType));
  return sources.filter((source) => wanted.has(source.stream));
}

function isLegacyApiKeySubject(subject: string): boolean {
  return subject.startsWith(`${SubjectRoots.config}.apikey.`) && subject.split(".").length === 4;
}

function tenantOf(message: StoredMessage): string {
  const header = message.headers?.get(EventHeaders.tenant);
  return header || decodeEnvelope(message.data, message.headers).tenant;
}

/** Options of a history read that are not part of the question. */
export interface HistoryReadOptions {
  /** Aborting ends the read at the next message and releases every consumer (a client that left). */
  signal?: AbortSignal | undefined;
  /** Messages read so far and matched when the reads began, summed over the streams. */
  onProgress?: ((read: number, total: number) => void) | undefined;
  /**
   * Opens sealed content (the vault's `ContentCodec.openEnvelope`): each record with content
   * then says what became of it, with the opened fields when decrypted. The envelope itself
   * stays as stored.
   */
  openContent?:
    | ((envelope: Envelope) => Promise<{ envelope: Envelope; content: ContentState | undefined }>)
    | undefined;
}

interface Head {
  message: StoredMessage;
  order: number;
}

/**
 * Reads one tenant's history from every stream that holds it, each by subject filter with a
 * server-side seek to `since`, and merges the streams by store time: each stream stays in
 * stream order, and across streams a message stored earlier comes first (ties: requests,
 * quota, usage, config, then sequence). Streaming: one ordered consumer per stream and one
 * message per stream held at a time, so memory stays flat on any history size.
 */
export async function* readTenantHistory(
  nc: NatsConnection,
  query: TenantHistoryQuery,
  options: HistoryReadOptions = {},
): AsyncGenerator<HistoryRecord> {
  const sources = tenantHistorySources(query);
  const progress = sources.map(() => ({ read: 0, total: 0 }));
  const report = () => {
    let read = 0;
    let total = 0;
    for (const p of progress) {
      read += p.read;
      total += p.total;
    }
    options.onProgress?.(read, total);
  };
  const readers = sources.map((source, index) =>
    readStream(nc, {
      stream: source.stream,
      filters: source.filters,
      ...(source.optionalFilters ? { optionalFilters: source.optionalFilters } : {}),
      ...(query.since ? { since: query.since } : {}),
      ...(query.until ? { until: query.until } : {}),
      onProgress: (read, total) => {
        const p = progress[index]!;
        p.read = read;
        p.total = total;
        report();
      },
    }),
  );
  const types = query.types;
  /** The next message of source `order` that the tenant's filters keep, or undefined at its end. */
  const next = async (order: number): Promise<Head | undefined> => {
    const reader = readers[order]!;
    const keep = sources[order]!.keep;
    for (;;) {
      const step = await reader.next();
      if (step.done) return undefined;
      const message = step.value;
      if (keep && !keep(message)) continue;
      if (types) {
        const type = message.headers?.get(EventHeaders.type);
        if (type && !types.has(type)) continue;
      }
      return { message, order };
    }
  };
  try {
    const heads = (await Promise.all(readers.map((_, order) => next(order)))).filter(
      (head): head is Head => head !== undefined,
    );
    while (heads.length > 0) {
      if (options.signal?.aborted) return;
      let first = 0;
      for (let i = 1; i < heads.length; i++) if (earlier(heads[i]!, heads[first]!)) first = i;
      const head = heads[first]!;
      const { message } = head;
      const envelope = decodeEnvelope(message.data, message.headers);
      // A message without a `bl-type` header (a foreign JSON producer) is filtered after decoding.
      if (!types || types.has(envelope.type)) {
        const record: HistoryRecord = {
          stream: message.stream,
          seq: message.seq,
          subject: message.subject,
          storedAt: message.storedAt,
          envelope,
        };
        if (options.openContent) {
          const opened = await options.openContent(envelope);
          if (opened.content) {
            record.content = { state: opened.content };
            const fields = splitContent(envelope.type, opened.envelope.data as Record<string, unknown>);
            if (opened.content === "decrypted" && fields) record.content.data = fields.content;
          }
        }
        yield record;
      }
      const following = await next(head.order);
      if (following) heads[first] = following;
      else heads.splice(first, 1);
    }
  } finally {
    // Ends every stream's ordered consumer, also when the caller stops early.
    await Promise.all(readers.map((reader) => reader.return(undefined)));
  }
}

function earlier(a: Head, b: Head): boolean {
  if (a.message.storedAt !== b.message.storedAt) return a.message.storedAt < b.message.storedAt;
  if (a.order !== b.order) return a.order < b.order;
  return a.message.seq < b.message.seq;
}

/** True when the log holds the tenant's `tenant.created` (any event on `bl.cfg.tenant.<tenant>`). */
export async function tenantExists(nc: NatsConnection, tenant: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const found = await jsm.direct.getMessage(StreamNames.config, {
    last_by_subj: `${SubjectRoots.config}.tenant.${tenant}`,
  });
  return found !== null;
}

/** {@link tenantExists}, refused with a clear error when the credential is scoped to another tenant. */
async function tenantExistsFor(nc: NatsConnection, tenant: string): Promise<boolean> {
  try {
    return await tenantExists(nc, tenant);
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
    throw new BeamlineError(
      "BL_NATS_PERMISSION_DENIED",
      `this NATS credential may not read tenant ${tenant}'s history: it is scoped to another tenant`,
    );
  }
}

/** An export as the admin API and the CLI receive it: raw parameters, validated here. */
export interface TenantExportRequest {
  tenant: string;
  since?: Date | undefined;
  until?: Date | undefined;
  requestId?: string | undefined;
  /** Comma-separated event types, as typed by a person. */
  types?: string | undefined;
}

/** Lines are handed out in chunks of about this many characters: a write per line costs a syscall each. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Validates an export request (tenant and request id format, event types, the tenant known to
 * the log, a non-empty window) and returns its JSONL as text chunks of whole lines. Everything
 * that can be refused is refused before the first chunk, so an HTTP answer can still be a 400.
 * Throws `BL_INVALID_TENANT_ID`, `BL_BAD_REQUEST` or `BL_TENANT_NOT_FOUND`.
 */
export async function openTenantExport(
  nc: NatsConnection,
  request: TenantExportRequest,
  options: HistoryReadOptions & { onEvent?: () => void } = {},
): Promise<AsyncGenerator<string>> {
  const tenant = assertTenantId(request.tenant);
  const requestId = request.requestId !== undefined ? assertRequestId(request.requestId) : undefined;
  const types = parseEventTypes(request.types);
  if (request.since && request.until && request.since.getTime() > request.until.getTime()) {
    throw new BeamlineError("BL_BAD_REQUEST", "since is after until: the window is empty", {
      param: "since",
    });
  }
  if (!(await tenantExistsFor(nc, tenant))) {
    throw new BeamlineError("BL_TENANT_NOT_FOUND", `No tenant with id ${tenant} in the log.`);
  }
  const history = readTenantHistory(
    nc,
    { tenant, since: request.since, until: request.until, requestId, types },
    options,
  );
  return (async function* chunks() {
    let chunk = "";
    for await (const record of history) {
      chunk += `${formatAuditLine(record)}\n`;
      options.onEvent?.();
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = "";
      }
    }
    if (chunk) yield chunk;
  })();
}
