import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  isEvent,
  RequestSlots,
  requestSubject,
  requireContent,
} from "../events/index.js";
import type { Delivery, StageHandler } from "../nats/index.js";
import { ConsumerNames, failpoint, StreamNames } from "../nats/index.js";
import { contextFromTraceparent, endSpan, startSpan, traceparentOf } from "../observability/index.js";
import { admit, extensionOf } from "./admit.js";
import { answerFromCache, consultCache, notifyCacheStatus, storeInCache } from "./cache.js";
import {
  type AcceptedEvent,
  endRequest,
  notifyTerminal,
  stageNow,
  type TerminalEvent,
  type WorkerDeps,
} from "./context.js";
import { checkEnvelope } from "./envelope.js";
import { type AttemptEvent, executeStep, readStoredAttempts } from "./execute.js";
import { hedgeExtrasOf, terminalForAttempt } from "./finish.js";
import { embeddingsToExecute, routedRequestOf } from "./operation.js";
import { notifyRateLimits, reserveQuota } from "./quota.js";
import { assertStoredWhereItClaims, type DecidedEvent, decide } from "./route.js";
import { failedEvent } from "./terminal.js";

/** What earlier deliveries of a request already stored. */
interface Progress {
  decided: DecidedEvent | undefined;
  attempts: AttemptEvent[];
  terminal: TerminalEvent | undefined;
}

/**
 * The request worker: one durable consumer on request.accepted that takes a request through
 * its steps, each recorded as events before the next depends on it:
 *
 *   admit   tenant active; `pre` and `validate` extensions   → extension.applied (ext.*)
 *   route   policy engine over the live catalog and health  → route.decided
 *   quota   reservation of the estimate (tenant and key)     → quota.reserved (BL_QUOTA)
 *   execute executor: retries, failover, breakers, pools;
 *           `post` extensions on chunks and the completion  → attempt.N, ext.post.*
 *   finish                                                   → request.completed | request.failed
 *
 * Billing is a consumer of its own on the terminal slot, off the client's path.
 *
 * One consumer instead of one per step is a measured choice (docs/architecture.md): every
 * extra persisted hop cost a JetStream delivery, an ack and a decode on the critical path.
 * The steps write write-once slots, so any instance can resume a request where a crashed
 * one left it: a redelivery first reads what is stored and continues.
 */
export function requestWorker(deps: WorkerDeps): StageHandler {
  return {
    name: ConsumerNames.worker,
    stream: StreamNames.requests,
    // Only requests a gateway or the ingress wrote are served: anyone who can publish on NATS
    // could otherwise pose as either (docs/security.md, "Producers and the envelope").
    requiresSignature: (event) => isEvent(event, "request.accepted"),
    readsContent: true,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      if (!isEvent(event, "request.accepted")) return;
      assertStoredWhereItClaims(event, delivery.subject);
      const verdict = await checkEnvelope(deps, event);
      if (!verdict.ok) {
        // Nothing is served, written or answered: the tenant, the key or the reply subject may
        // be someone else's, and any write would land in their history.
        deps.log.warn(
          {
            stage: ConsumerNames.worker,
            subject: delivery.subject,
            reason: verdict.reason,
            detail: verdict.detail,
          },
          "refused a request whose envelope failed the checks",
        );
        deps.metrics.envelopeRejections.inc({ stage: ConsumerNames.worker, reason: verdict.reason });
        return;
      }
      const span = startSpan("beamline.worker", contextFromTraceparent(event.traceparent), "consumer", {
        "beamline.tenant": event.tenant,
        "beamline.request_id": event.requestId,
        "beamline.delivery": delivery.deliveryCount,
      });
      // Every event this delivery writes names the worker's span as its trace parent.
      const traceparent = traceparentOf(span);
      const accepted: AcceptedEvent = traceparent ? { ...event, traceparent } : event;
      try {
        const terminal = await processRequest(deps, accepted, delivery);
        endSpan(span, terminal.type === "request.failed" ? terminal.data.error : undefined);
      } catch (error) {
        endSpan(span, error as Error);
        throw error;
      }
    },
    async giveUp(event, error) {
      // An event that lies about its tenant must not make us write into that tenant's history.
      if (error.code === "BL_INVALID_TENANT_ID") return;
      if (isEvent(event, "request.accepted")) {
        await endRequest(deps, event, failedEvent(event, "worker", error, 0, stageNow(deps)));
      }
    },
  };
}

/** The steps of one delivery; returns the request's terminal event (stored, or stored earlier). */
async function processRequest(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  delivery: Delivery,
): Promise<TerminalEvent> {
  // A first delivery has no history to read; only a redelivery pays for the look-up.
  const progress = delivery.deliveryCount > 1 ? await readProgress(deps, accepted) : undefined;
  if (progress?.terminal) {
    notifyTerminal(deps.live, accepted, progress.terminal);
    return progress.terminal;
  }
  const policy = deps.policies.policyFor(accepted.tenant);

  let decided = progress?.decided;
  let decisionStored: Promise<void> = Promise.resolve();
  if (!decided) {
    const admitted = await admit(deps, accepted, policy, progress !== undefined);
    if (admitted.kind === "refuse") {
      const extension = extensionOf(admitted.error);
      return endRequest(
        deps,
        accepted,
        failedEvent(
          accepted,
          admitted.stage,
          admitted.error,
          0,
          stageNow(deps),
          extension ? { extension } : {},
        ),
      );
    }
    const outcome = decide(deps, accepted, policy, admitted.request, admitted.changed);
    if (outcome instanceof BeamlineError) {
      return endRequest(deps, accepted, failedEvent(accepted, "route", outcome, 0, stageNow(deps)));
    }
    decided = outcome;
    // The decision is stored while quota and provider work; it is awaited before any
    // attempt is stored, and before a refusal is.
    decisionStored = storeDecision(deps, decided);
    decisionStored.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  }
  // A decision whose routed request was stored as hashes / none cannot be resumed from: the
  // accepted request would be the wrong one (pre-processing changed it).
  const request =
    decided.data.request !== undefined || decided.data.atRest
      ? requireContent(decided.data.request, decided)
      : routedRequestOf(accepted);
  const embeddings = embeddingsToExecute(accepted, request);
  const catalogVersion = decided.data.catalogVersion;

  const quota = await reserveQuota(deps, accepted, decided, policy, request);
  if (!quota.admitted) {
    await decisionStored;
    return endRequest(
      deps,
      accepted,
      failedEvent(accepted, "quota", quota.error, 0, stageNow(deps), {
        cause: decided,
        catalogVersion,
        ...(Object.keys(quota.headers).length > 0 ? { responseHeaders: quota.headers } : {}),
      }),
    );
  }

  // The cache is consulted only before any provider call: a redelivery that already stored
  // attempts resumes them (docs/caching.md). Embeddings are not cached: the cache keeps chat
  // answers.
  const billing = { catalogVersion, quotaReserved: quota.reserved, rateLimits: quota.rateLimits };
  const cache =
    progress?.attempts.length || embeddings
      ? undefined
      : await consultCache(deps, accepted, decided, policy, request);
  if (cache?.hit) {
    await decisionStored;
    return endRequest(
      deps,
      accepted,
      await answerFromCache(deps, accepted, { ...cache, hit: cache.hit }, billing),
    );
  }
  // Both before the first chunk, on the same connection as the chunks: they arrive first.
  notifyRateLimits(deps, accepted, quota);
  if (cache) notifyCacheStatus(deps, accepted, cache);

  const executed = await executeStep({
    deps,
    accepted,
    decided,
    request,
    embeddings,
    // Post extensions read and rewrite answer text; vectors have none.
    pipeline: embeddings ? { ...policy.document.pipeline, post: [] } : policy.document.pipeline,
    hedge: policy.document.hedge,
    delivery,
    stored: progress?.attempts ?? [],
    decisionStored,
  });
  failpoint("worker.after-attempt");
  const terminal = terminalForAttempt(accepted, executed.final, billing, stageNow(deps), {
    hedgeExtra: hedgeExtrasOf(executed.attempts),
  });
  return endRequest(deps, accepted, cache ? await storeInCache(deps, cache, terminal) : terminal);
}

/**
 * Stores a decision. When another delivery of the same request stored one first (two
 * deliveries overlapping after a stalled worker's ack wait ran out), the stored one stands;
 * if it differs from ours (the catalog changed in between), this delivery stops before
 * writing an attempt and the redelivery resumes from the stored decision.
 */
async function storeDecision(deps: WorkerDeps, decided: DecidedEvent): Promise<void> {
  const subject = requestSubject(decided.tenant, decided.requestId, RequestSlots.decided);
  const result = await deps.store.append(subject, decided, { once: true });
  failpoint("worker.after-decided");
  if (result.duplicate && JSON.stringify(result.stored.data) !== JSON.stringify(decided.data)) {
    throw new BeamlineError(
      "BL_DELIVERY_OVERLAP",
      `another delivery of ${decided.requestId} decided differently; resuming from its decision`,
    );
  }
}

async function readProgress(deps: WorkerDeps, accepted: AcceptedEvent): Promise<Progress> {
  const slot = (name: string) => requestSubject(accepted.tenant, accepted.requestId, name);
  const [decided, terminal] = await Promise.all([
    deps.store.readLast(StreamNames.requests, slot(RequestSlots.decided)),
    deps.store.readLast(StreamNames.requests, slot(RequestSlots.terminal)),
  ]);
  const progress: Progress = { decided: undefined, attempts: [], terminal: undefined };
  if (terminal && (isEvent(terminal, "request.completed") || isEvent(terminal, "request.failed"))) {
    progress.terminal = terminal;
    return progress;
  }
  if (decided && isEvent(decided, "route.decided")) {
    progress.decided = decided;
    progress.attempts = await readStoredAttempts(deps, decided);
  }
  return progress;
}
