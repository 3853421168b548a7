/**
 * The subject hierarchy is the index. Every event of one request lives under
 * `bl.req.<tenant>.<requestId>.<slot>`, so:
 * - a tenant's whole history is the filter `bl.req.<tenant>.>`;
 * - one request's history is the filter `bl.req.<tenant>.<requestId>.>`;
 * - one kind of step across all tenants is `bl.req.*.*.<slot>` (what stage consumers use).
 * A slot that may hold only one event per request (accepted, decided, terminal, attempt.N) is
 * written with "expected last subject sequence = 0", which makes the write idempotent forever,
 * not only within the stream's duplicate window.
 */
export const SubjectRoots = {
  requests: "bl.req",
  usage: "bl.usage",
  config: "bl.cfg",
  deadLetter: "bl.dead",
  /** Core NATS (not persisted): streamed chunks to a waiting gateway or producer. */
  live: "bl.live",
  /** Quota reservations, settlements and expiries: `bl.quota.<tenant>.<requestId>.<fact>`. */
  quota: "bl.quota",
  /**
   * Producers' requests, before Beamline checked them: `bl.in.<tenant>.<producerId>.<requestId>`
   * (stream BL_INGRESS). The subject is the producer's authenticated identity: NATS lets a
   * producer's credential publish only under its own tenant and id.
   */
  ingress: "bl.in",
} as const;

export const RequestSlots = {
  accepted: "accepted",
  decided: "decided",
  attempt: "attempt",
  terminal: "terminal",
  /** `cache.hit`: the request was answered from the response cache. */
  cache: "cache",
} as const;

export function requestSubject(tenant: string, requestId: string, slot: string): string {
  return `${SubjectRoots.requests}.${tenant}.${requestId}.${slot}`;
}

export function attemptSubject(tenant: string, requestId: string, attempt: number): string {
  return `${SubjectRoots.requests}.${tenant}.${requestId}.${RequestSlots.attempt}.${attempt}`;
}

/** Filter of every request event of one tenant. */
export function tenantHistoryFilter(tenant: string): string {
  return `${SubjectRoots.requests}.${tenant}.>`;
}

/** Filter of every event of one request, in the order they were stored. */
export function requestHistoryFilter(tenant: string, requestId: string): string {
  return `${SubjectRoots.requests}.${tenant}.${requestId}.>`;
}

/** Filter of one slot across all tenants and requests (a stage consumer's input). */
export function slotFilter(slot: string): string {
  return `${SubjectRoots.requests}.*.*.${slot}`;
}

export function usageSubject(tenant: string, requestId: string): string {
  return `${SubjectRoots.usage}.${tenant}.${requestId}`;
}

export function tenantUsageFilter(tenant: string): string {
  return `${SubjectRoots.usage}.${tenant}.>`;
}

/** Configuration events: `bl.cfg.<aggregate>.<id>`, e.g. `bl.cfg.tenant.acme`, `bl.cfg.policy.acme`. */
export function configSubject(aggregate: string, id: string): string {
  return `${SubjectRoots.config}.${aggregate}.${id}`;
}

/**
 * Where API key events are written: `bl.cfg.apikey.<tenant>.<keyId>`, so a tenant's keys are
 * one subject filter ({@link tenantApiKeyFilter}) like the rest of its history. Events written
 * before this layout sit on {@link legacyApiKeySubject}; readers accept both.
 */
export function apiKeySubject(tenant: string, keyId: string): string {
  return `${SubjectRoots.config}.apikey.${tenant}.${keyId}`;
}

/** The subject API key events had before they were tenant-scoped: `bl.cfg.apikey.<keyId>` (read only). */
export function legacyApiKeySubject(keyId: string): string {
  return `${SubjectRoots.config}.apikey.${keyId}`;
}

/** One key's events on the tenant-scoped layout when the tenant is not known: `bl.cfg.apikey.*.<keyId>`. */
export function apiKeyIdFilter(keyId: string): string {
  return `${SubjectRoots.config}.apikey.*.${keyId}`;
}

/** Every tenant-scoped API key event of one tenant: `bl.cfg.apikey.<tenant>.>`. */
export function tenantApiKeyFilter(tenant: string): string {
  return `${SubjectRoots.config}.apikey.${tenant}.>`;
}

/**
 * Every legacy API key event, of every tenant: `bl.cfg.apikey.*` (one token after `apikey`, so
 * the tenant-scoped subjects, which have two, never match). The set stopped growing when keys
 * moved to {@link apiKeySubject}; readers that need one tenant's keys filter it by tenant.
 */
export const LEGACY_API_KEY_FILTER = `${SubjectRoots.config}.apikey.*`;

export function deadLetterSubject(consumer: string): string {
  return `${SubjectRoots.deadLetter}.${consumer}`;
}

/** A quota fact of one request: `bl.quota.<tenant>.<requestId>.<fact>` (fact: reserved.N, settled, expired.N). */
export function quotaSubject(tenant: string, requestId: string, fact: string): string {
  return `${SubjectRoots.quota}.${tenant}.${requestId}.${fact}`;
}

/** Every quota fact of one tenant: the subject filter its quota state is serialised on. */
export function tenantQuotaFilter(tenant: string): string {
  return `${SubjectRoots.quota}.${tenant}.>`;
}

/** Where producer `producerId` of `tenant` publishes request `requestId`. */
export function ingressSubject(tenant: string, producerId: string, requestId: string): string {
  return `${SubjectRoots.ingress}.${tenant}.${producerId}.${requestId}`;
}

/** Tenant, producer and request of an ingress subject; undefined when it has another shape. */
export function parseIngressSubject(
  subject: string,
): { tenant: string; producerId: string; requestId: string } | undefined {
  const tokens = subject.split(".");
  if (tokens.length !== 5 || `${tokens[0]}.${tokens[1]}` !== SubjectRoots.ingress) return undefined;
  const [, , tenant, producerId, requestId] = tokens as [string, string, string, string, string];
  return { tenant, producerId, requestId };
}

/** A producer's configuration events: `bl.cfg.producer.<tenant>.<producerId>`. */
export function producerSubject(tenant: string, producerId: string): string {
  return `${SubjectRoots.config}.producer.${tenant}.${producerId}`;
}

/** One producer's events when the tenant is not known: `bl.cfg.producer.*.<producerId>`. */
export function producerIdFilter(producerId: string): string {
  return `${SubjectRoots.config}.producer.*.${producerId}`;
}

/**
 * The live inbox of an origin — a gateway process (`gw-…`) or a producer (`pr-…`): every
 * `replyTo` Beamline answers on lies under it. Core NATS only; no stream captures `bl.live`.
 */
export function liveInboxPrefix(origin: string): string {
  return `${SubjectRoots.live}.${origin}.`;
}
