import { type CacheEntry, type CachePlan, cacheKey, hitDiscountPercent, planCache } from "../cache/index.js";
import type { ChatRequest } from "../chat/index.js";
import {
  type BeamlineEvent,
  causedBy,
  type EventData,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import { endSpan, startCacheSpan } from "../observability/index.js";
import type { VersionedPolicy } from "../routing/index.js";
import { type AcceptedEvent, stageNow, type TerminalEvent, type WorkerDeps } from "./context.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { DecidedEvent } from "./route.js";
import { terminalEventId } from "./terminal.js";

/** A cache notice says everything in its headers. */
const EMPTY = new Uint8Array(0);

/** What the cache step found for one request. */
export interface CacheLookup {
  plan: CachePlan;
  key: string;
  ttlSeconds: number;
  discountPercent: number;
  hit: CacheEntry | undefined;
}

/**
 * The cache step, between quota admission and execution: plans what the cache may do for
 * this request under the tenant's policy and the client's controls, and looks the answer up.
 * Undefined when the tenant's cache is off or this worker has no cache. A look-up that fails
 * (NATS, an entry that will not open) is a miss: the cache never fails a request.
 */
export async function consultCache(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  decided: DecidedEvent,
  policy: VersionedPolicy,
  request: ChatRequest,
): Promise<CacheLookup | undefined> {
  const cache = deps.responseCache;
  const settings = policy.document.cache;
  const model = decided.data.candidates[0]?.model;
  if (!cache || model === undefined) return undefined;
  const plan = planCache({
    policy: settings,
    request,
    control: accepted.data.cacheControl,
    contentStore: policy.document.content.store,
  });
  if (!plan) return undefined;
  const key = cacheKey({
    tenant: accepted.tenant,
    caller: accepted.data.apiKeyId ?? accepted.data.producerId,
    scope: settings.scope,
    request,
    model,
  });
  const lookup: CacheLookup = {
    plan,
    key,
    ttlSeconds: settings.ttlSeconds,
    discountPercent: hitDiscountPercent(settings),
    hit: undefined,
  };
  if (!plan.lookup) return lookup;
  const span = startCacheSpan("lookup", accepted.traceparent, {
    "beamline.tenant": accepted.tenant,
    "beamline.request_id": accepted.requestId,
  });
  let failure: unknown;
  try {
    const found = await cache.get(accepted.tenant, key);
    if (found) {
      lookup.hit = found.entry;
      deps.metrics.cacheBytes.inc({ tenant: accepted.tenant, direction: "served" }, found.bytes);
    }
  } catch (error) {
    failure = error;
    deps.log.warn(
      { tenant: accepted.tenant, requestId: accepted.requestId, err: error },
      "cache look-up failed",
    );
  } finally {
    span.setAttribute("beamline.cache.hit", lookup.hit !== undefined);
    endSpan(span, failure instanceof Error ? failure : undefined);
  }
  return lookup;
}

/**
 * Answers a request from the cache: `cache.hit` (naming the request the answer came from),
 * then `request.completed` with that answer under this request's id, its usage as recorded and
 * the discount it is billed at. Both are write-once slots, so a redelivery writes nothing twice.
 */
export async function answerFromCache(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  lookup: CacheLookup & { hit: CacheEntry },
  facts: { catalogVersion: string; quotaReserved: boolean },
): Promise<TerminalEvent> {
  const entry = lookup.hit;
  const now = stageNow(deps);
  const hit = makeEvent(
    "cache.hit",
    `${accepted.requestId}:${RequestSlots.cache}`,
    causedBy(accepted),
    {
      sourceRequestId: entry.sourceRequestId,
      key: lookup.key,
      provider: entry.provider,
      model: entry.model,
      discountPercent: lookup.discountPercent,
      ageMs: Math.max(0, now.getTime() - Date.parse(entry.storedAt)),
    },
    now,
  );
  await deps.store.append(requestSubject(accepted.tenant, accepted.requestId, RequestSlots.cache), hit, {
    once: true,
  });
  deps.metrics.cacheRequests.inc({ tenant: accepted.tenant, status: "hit" });
  const data: EventData<"request.completed"> = {
    completion: {
      ...entry.completion,
      id: accepted.requestId,
      model: entry.model,
      created: Math.floor(now.getTime() / 1000),
    },
    provider: entry.provider,
    model: entry.model,
    usage: entry.usage,
    attempts: 0,
    catalogVersion: facts.catalogVersion,
    ...(facts.quotaReserved ? { quotaReserved: true } : {}),
    cache: { status: "hit", sourceRequestId: entry.sourceRequestId, discountPercent: lookup.discountPercent },
  };
  if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
  return makeEvent("request.completed", terminalEventId(accepted.requestId), causedBy(hit), data, now);
}

/**
 * Tells the waiting client what the cache did before the provider's first chunk, so a streamed
 * answer can carry `x-beamline-cache` in its headers.
 */
export function notifyCacheStatus(deps: WorkerDeps, accepted: AcceptedEvent, lookup: CacheLookup): void {
  deps.metrics.cacheRequests.inc({ tenant: accepted.tenant, status: lookup.plan.status });
  const replyTo = accepted.data.replyTo;
  if (!replyTo) return;
  deps.live.send(replyTo, {
    headers: { [LiveHeaders.kind]: LiveKinds.cache, [LiveHeaders.cache]: lookup.plan.status },
    body: () => ({ payload: EMPTY }),
  });
}

/**
 * After a provider answered: records the cache's status on the terminal event and, when the
 * plan allows, stores the answer (before the client is told, so its next identical request
 * finds it). A failed store is logged, never the request's failure.
 */
export async function storeInCache(
  deps: WorkerDeps,
  lookup: CacheLookup,
  terminal: TerminalEvent,
): Promise<TerminalEvent> {
  if (terminal.type !== "request.completed") return terminal;
  const completed = terminal as BeamlineEvent<"request.completed">;
  const marked: TerminalEvent = {
    ...completed,
    data: { ...completed.data, cache: { status: lookup.plan.status } },
  };
  const completion = completed.data.completion;
  if (!lookup.plan.store || completion === undefined) return marked;
  const entry: CacheEntry = {
    v: 1,
    sourceRequestId: completed.requestId,
    provider: completed.data.provider,
    model: completed.data.model,
    completion,
    usage: completed.data.usage,
    storedAt: completed.time,
  };
  try {
    const bytes = await deps.responseCache!.put(completed.tenant, lookup.key, entry, lookup.ttlSeconds);
    deps.metrics.cacheBytes.inc({ tenant: completed.tenant, direction: "stored" }, bytes);
  } catch (error) {
    deps.log.warn(
      { tenant: completed.tenant, requestId: completed.requestId, err: error },
      "could not store the answer in the response cache",
    );
  }
  return marked;
}
