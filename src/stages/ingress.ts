import { type ProducerRecord, reduceProducer } from "../../projections/index.js";
import type { ModelCatalog } from "../catalog/index.js";
import { isModelInScope } from "../catalog/index.js";
import { BeamlineError, type ErrorCode } from "../errors/index.js";
import {
  type BeamlineEvent,
  encodeEvent,
  isEvent,
  isSafeToken,
  makeEvent,
  parseIngressSubject,
  producerSubject,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import type { Delivery, StageHandler } from "../nats/index.js";
import { ConsumerNames, StreamNames } from "../nats/index.js";
import type { ProducerCache, TenantCache } from "../tenancy/index.js";
import { type AcceptedEvent, type StageDeps, stageNow } from "./context.js";
import { isReplyToAllowed } from "./envelope.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import { failedEvent } from "./terminal.js";

/** What the ingress reads: the producer registry, tenants, and the catalog for model scopes. */
export interface IngressDeps extends StageDeps {
  producers: ProducerCache;
  tenants: TenantCache;
  catalog: () => ModelCatalog;
}

/** A refusal: the code the producer is told, and the metric's reason label. */
class IngressRefusal extends BeamlineError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly reason: string,
  ) {
    super(code, message);
  }

  /** A refusal is final whatever its code: the producer must change the request, not resend it. */
  override get handling(): "terminate" {
    return "terminate";
  }
}

/**
 * The ingress stage (worker role): turns a producer's request on
 * `bl.in.<tenant>.<producerId>.<requestId>` into the canonical, signed `request.accepted` on
 * `bl.req.<tenant>.<requestId>.accepted`, which the worker then serves like a gateway's.
 *
 * nats-server records no publisher identity on a stored message; the subject a credential is
 * permitted to publish on is the only identity the server vouches for. So tenant and producer
 * come from the subject, never from the payload: the producer must be registered, active and
 * the subject tenant's; the model must be in its scope; `replyTo` must lie under its own inbox
 * `bl.live.<producerId>.`. The stored request carries `producerId` (overwriting anything the
 * producer put there), so its limits apply at admission like an API key's.
 *
 * A refusal is answered on the producer's `replyTo` (only when that lies in its own inbox) as a
 * `request.failed` that is not stored, and the message is dead-lettered on `bl.dead.ingress`
 * with its code: on record for operators, nothing in the tenant's history, nothing billed.
 * The accepted slot is write-once, so a redelivered ingress message stores the request once.
 */
export function ingressStage(deps: IngressDeps): StageHandler {
  return {
    name: ConsumerNames.ingress,
    stream: StreamNames.ingress,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      const where = parseIngressSubject(delivery.subject);
      try {
        const accepted = await canonicalRequest(deps, event, delivery.subject);
        await deps.store.append(
          requestSubject(accepted.tenant, accepted.requestId, RequestSlots.accepted),
          accepted,
          { once: true },
        );
      } catch (error) {
        if (!(error instanceof IngressRefusal)) throw error;
        deps.metrics.envelopeRejections.inc({ stage: ConsumerNames.ingress, reason: error.reason });
        const replyTo = isEvent(event, "request.accepted") ? event.data.replyTo : undefined;
        if (where && replyTo !== undefined && isReplyToAllowed(replyTo, where)) {
          answerRefusal(deps, event as AcceptedEvent, where, replyTo, error);
        }
        throw error; // terminate: dead-lettered with its code by the runner
      }
    },
  };
}

/** The checked request.accepted for an ingress message, or throws an {@link IngressRefusal}. */
async function canonicalRequest(
  deps: IngressDeps,
  event: BeamlineEvent,
  subject: string,
): Promise<AcceptedEvent> {
  const where = parseIngressSubject(subject);
  if (!where || ![where.tenant, where.producerId, where.requestId].every(isSafeToken)) {
    throw new IngressRefusal(
      "BL_PRODUCER_UNAUTHORIZED",
      `publish requests on bl.in.<tenant>.<producerId>.<requestId>, not ${subject}`,
      "bad_subject",
    );
  }
  const { tenant, producerId, requestId } = where;
  const producer = deps.producers.get(producerId) ?? (await producerFromLog(deps, tenant, producerId));
  if (!producer || producer.tenant !== tenant) {
    throw new IngressRefusal(
      "BL_PRODUCER_UNAUTHORIZED",
      `producer ${producerId} is not registered for tenant ${tenant}`,
      producer ? "foreign_producer" : "unknown_producer",
    );
  }
  if (producer.status !== "active") {
    throw new IngressRefusal(
      "BL_PRODUCER_UNAUTHORIZED",
      `producer ${producerId} is revoked`,
      "revoked_producer",
    );
  }
  if (!isEvent(event, "request.accepted")) {
    throw new IngressRefusal(
      "BL_EVENT_INVALID",
      `publish request.accepted on the ingress, not ${event.type}`,
      "bad_event",
    );
  }
  // The payload's tenant and request id must agree with the subject: a disagreement is a
  // producer confused about who it is, or one trying to pass as another.
  if (event.tenant !== tenant || event.requestId !== requestId) {
    throw new IngressRefusal(
      "BL_PRODUCER_UNAUTHORIZED",
      `the event names tenant ${event.tenant} and request ${event.requestId}; the subject ${tenant} and ${requestId}`,
      "subject_mismatch",
    );
  }
  const { replyTo, request, stream } = event.data;
  if (!request) {
    throw new IngressRefusal(
      "BL_EVENT_INVALID",
      "the request.accepted event carries no request",
      "bad_event",
    );
  }
  if (replyTo !== undefined && !isReplyToAllowed(replyTo, { producerId })) {
    throw new IngressRefusal(
      "BL_REPLY_TO_FORBIDDEN",
      `replyTo must be a subject under bl.live.${producerId}.; got ${replyTo}`,
      "reply_to",
    );
  }
  if (!isModelInScope(producer.models, request.model, deps.catalog())) {
    throw new IngressRefusal(
      "BL_MODEL_NOT_ALLOWED",
      `producer ${producerId} may not use the model \`${request.model}\`; it is limited to: ${(producer.models ?? []).join(", ")}.`,
      "model_not_allowed",
    );
  }
  const data: AcceptedEvent["data"] = { request, frontDoor: "nats", stream, producerId };
  if (replyTo !== undefined) data.replyTo = replyTo;
  const context = {
    tenant,
    requestId,
    correlationId: event.correlationId || requestId,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
  return makeEvent(
    "request.accepted",
    `${requestId}:${RequestSlots.accepted}`,
    context,
    data,
    stageNow(deps),
  );
}

/**
 * A producer the view does not have yet (issued a moment ago): its signed events on
 * `bl.cfg.producer.<tenant>.<producerId>` decide. Only the subject's tenant is looked at, so
 * a producer of another tenant stays unknown here. Unsigned events never count.
 */
async function producerFromLog(
  deps: IngressDeps,
  tenant: string,
  producerId: string,
): Promise<ProducerRecord | undefined> {
  const subject = producerSubject(tenant, producerId);
  const issued = await deps.store.readFirstTrusted(StreamNames.config, subject);
  if (!issued || !isEvent(issued, "producer.issued")) return undefined;
  const last = await deps.store.readLastTrusted(StreamNames.config, subject);
  let record = reduceProducer(undefined, issued, 0);
  if (last && last.id !== issued.id) record = reduceProducer(record, last, 0);
  return record;
}

/** Tells the producer why, on its own inbox, as a request.failed (not stored: nothing was accepted). */
function answerRefusal(
  deps: IngressDeps,
  event: AcceptedEvent,
  where: { tenant: string; requestId: string },
  replyTo: string,
  error: BeamlineError,
): void {
  const failed = failedEvent(
    { ...event, tenant: where.tenant, requestId: where.requestId },
    "ingress",
    error,
    0,
    stageNow(deps),
  );
  deps.live.send(replyTo, {
    headers: { [LiveHeaders.kind]: LiveKinds.terminal },
    body: () => encodeEvent(failed),
    value: failed,
  });
}
