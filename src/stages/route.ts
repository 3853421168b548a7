import { errorRate } from "../../projections/index.js";
import type { ChatRequest } from "../chat/index.js";
import { BeamlineError, isBeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  isSafeToken,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import type { HealthView } from "../health/index.js";
import type { VersionedPolicy } from "../routing/index.js";
import { decideWithPolicy, type HealthSnapshot, healthKey, NO_QUOTA } from "../routing/index.js";
import { type AcceptedEvent, stageNow, type WorkerDeps } from "./context.js";

export type DecidedEvent = BeamlineEvent<"route.decided">;

/**
 * The route step: the tenant's policy, the live catalog and the health snapshot rank the
 * candidates (src/routing/policy). Pure given its inputs, which the decision records (policy
 * and catalog versions, health revision, seed = request id, and the request itself when
 * pre-processing changed it), so it replays. Returns the error that ends the request when
 * nothing can serve it.
 */
export function decide(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  policy: VersionedPolicy,
  request: ChatRequest,
  requestChanged: boolean,
): DecidedEvent | BeamlineError {
  try {
    const operation = accepted.data.operation;
    const decision = decideWithPolicy({
      request,
      operation,
      policy,
      catalog: deps.catalog(),
      health: healthSnapshot(deps.health),
      // Spend budgets are enforced exactly by quota admission after routing (docs/quotas.md);
      // the policy sees no quota state, so a decision does not depend on other requests.
      quota: NO_QUOTA,
      seed: accepted.requestId,
    });
    // An embeddings request is routed as its chat view, which the accepted event does not hold:
    // the decision keeps it, so it replays and a redelivery executes the same inputs.
    if (requestChanged || operation === "embeddings") decision.request = request;
    deps.metrics.routingDecisions.inc({
      tenant: accepted.tenant,
      strategy: decision.strategy?.type ?? decision.policy,
      model: decision.candidates[0]?.model ?? "",
      outcome: "routed",
    });
    return makeEvent(
      "route.decided",
      `${accepted.requestId}:${RequestSlots.decided}`,
      causedBy(accepted),
      decision,
      stageNow(deps),
    );
  } catch (error) {
    if (!isBeamlineError(error)) throw error;
    deps.metrics.routingDecisions.inc({
      tenant: accepted.tenant,
      strategy: policy.document.routing.strategy.type,
      model: "",
      outcome: error.code === "BL_UNKNOWN_MODEL" ? "unknown_model" : "refused",
    });
    return error;
  }
}

/** The last snapshot per view: rebuilt only when the projection moved, or a breaker's cooldown may have ended. */
const snapshots = new WeakMap<
  HealthView,
  { revision: number; snapshot: HealthSnapshot; clockDependent: boolean }
>();

/**
 * The policy engine's view of provider health: breaker state now, latency, error rate. It only
 * changes with the projection's revision — except an open breaker, which turns half-open with
 * the clock — so requests share one snapshot in between instead of rebuilding it each time.
 */
export function healthSnapshot(health: HealthView): HealthSnapshot {
  const revision = health.revision();
  const cached = snapshots.get(health);
  if (cached && cached.revision === revision && !cached.clockDependent) return cached.snapshot;
  const models: HealthSnapshot["models"] = {};
  let clockDependent = false;
  for (const record of health.all()) {
    if (record.breaker.state === "open") clockDependent = true;
    const entry: HealthSnapshot["models"][string] = { breaker: health.state(record.provider, record.model) };
    if (record.latencyEwmaMs !== null) entry.latencyEwmaMs = record.latencyEwmaMs;
    if (record.latencyP95Ms !== null) entry.p95Ms = record.latencyP95Ms;
    if (record.window.length > 0) entry.errorRate = errorRate(record);
    models[healthKey(record.provider, record.model)] = entry;
  }
  const snapshot = { revision, models };
  snapshots.set(health, { revision, snapshot, clockDependent });
  return snapshot;
}

/**
 * The subject is the authority (NATS permissions are granted on subjects): an envelope
 * whose tenant or request id differs from the subject it was stored under, or is not a
 * safe token, is poison and is dead-lettered without writing anything.
 */
export function assertStoredWhereItClaims(event: BeamlineEvent, subject: string): void {
  const expected =
    isSafeToken(event.tenant) && isSafeToken(event.requestId)
      ? requestSubject(event.tenant, event.requestId, RequestSlots.accepted)
      : undefined;
  if (expected !== subject) {
    throw new BeamlineError(
      "BL_INVALID_TENANT_ID",
      `event ${event.id} names tenant ${JSON.stringify(event.tenant)} and request ${JSON.stringify(event.requestId)} but was stored on ${subject}`,
    );
  }
}
