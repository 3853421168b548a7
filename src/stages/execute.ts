import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { StreamNames } from "../../streams/definitions.js";
import type { ChatCompletionChunk } from "../chat/wire.js";
import { BeamlineError, toBeamlineError } from "../errors/index.js";
import {
  attemptSubject,
  type BeamlineEvent,
  causedBy,
  type EventData,
  isEvent,
  makeEvent,
} from "../events/index.js";
import { contextFromTraceparent, endSpan, startSpan } from "../observability/index.js";
import { ProviderError } from "../providers/index.js";
import type { AcceptedEvent, StageDeps } from "./context.js";
import { failpoint } from "./failpoints.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { Delivery } from "./runner.js";

type Candidate = EventData<"route.decided">["candidates"][number];
export type AttemptEvent = BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;
type DecidedEvent = BeamlineEvent<"route.decided">;

const encoder = new TextEncoder();

/** Whether no attempt follows this one: a success, or a failure marked final. */
export function isFinalAttempt(attempt: AttemptEvent): boolean {
  return isEvent(attempt, "attempt.succeeded") || attempt.data.final;
}

/**
 * The execute step: one attempt event per provider call, trying the ranked candidates in
 * order. A retryable failure moves to the next candidate unless chunks already reached the
 * client (a stream must never splice two answers). Returns the final attempt: a success, or
 * the failure that ends the request.
 *
 * A crash mid-call means the request is delivered again and the provider called again
 * (at-least-once towards providers); attempt slots are write-once, so only one outcome per
 * attempt number is ever stored, and a redelivery resumes after the attempts already stored.
 */
export async function executeDecision(
  deps: StageDeps,
  accepted: AcceptedEvent,
  decided: DecidedEvent,
  delivery: Delivery,
  stored: readonly AttemptEvent[],
  /** Settles once the decision is stored: no attempt may be stored before it. */
  decisionStored: Promise<void> = Promise.resolve(),
): Promise<AttemptEvent> {
  const last = stored.at(-1);
  if (last && isFinalAttempt(last)) return last;
  const candidates = decided.data.candidates;
  let outcome = last;
  for (let index = stored.length; index < candidates.length; index++) {
    const isLast = index === candidates.length - 1;
    outcome = await callCandidate(
      deps,
      decided,
      accepted,
      candidates[index]!,
      index + 1,
      delivery,
      isLast,
      decisionStored,
    );
    if (isFinalAttempt(outcome)) return outcome;
  }
  // Only reachable when the stored attempts already cover every candidate without a final one.
  if (!outcome)
    throw new BeamlineError("BL_INTERNAL", `route decision of ${decided.requestId} has no candidates`);
  return outcome;
}

/** Attempt events already stored for this request, in attempt order. */
export async function readStoredAttempts(deps: StageDeps, decided: DecidedEvent): Promise<AttemptEvent[]> {
  const found: AttemptEvent[] = [];
  for (let n = 1; n <= decided.data.candidates.length; n++) {
    const event = await deps.store.readLast(
      StreamNames.requests,
      attemptSubject(decided.tenant, decided.requestId, n),
    );
    if (!event || !(isEvent(event, "attempt.succeeded") || isEvent(event, "attempt.failed"))) break;
    found.push(event);
  }
  return found;
}

async function callCandidate(
  deps: StageDeps,
  decided: DecidedEvent,
  accepted: AcceptedEvent,
  candidate: Candidate,
  attempt: number,
  delivery: Delivery,
  isLastCandidate: boolean,
  decisionStored: Promise<void>,
): Promise<AttemptEvent> {
  const started = deps.now();
  const startedMs = performance.now();
  const stream = accepted.data.stream;
  const live =
    stream && accepted.data.replyTo
      ? liveChunkSender(deps.nc, accepted, delivery, attempt, candidate)
      : undefined;
  const labels = { provider: candidate.provider, model: candidate.model };
  const base = {
    attempt,
    provider: candidate.provider,
    model: candidate.model,
    upstreamModel: candidate.upstreamModel,
    startedAt: started.toISOString(),
    streamed: stream,
  };
  const id = `${decided.requestId}:attempt.${attempt}`;
  const subject = attemptSubject(decided.tenant, decided.requestId, attempt);
  let event: AttemptEvent;
  const span = startSpan(
    `provider ${candidate.provider}`,
    contextFromTraceparent(decided.traceparent),
    "client",
    {
      "beamline.provider": candidate.provider,
      "beamline.model": candidate.model,
      "beamline.upstream_model": candidate.upstreamModel,
      "beamline.attempt": attempt,
    },
  );
  try {
    const adapter = deps.providers.get(candidate.provider);
    const result = await adapter.complete({
      upstreamModel: candidate.upstreamModel,
      request: accepted.data.request,
      ...(live ? { onChunk: live.send } : {}),
    });
    event = makeEvent(
      "attempt.succeeded",
      id,
      causedBy(decided),
      {
        ...base,
        durationMs: performance.now() - startedMs,
        timeToFirstTokenMs: result.timeToFirstTokenMs,
        usage: result.usage,
        // The zod type is the loose (pass-through) view of the same OpenAI object.
        completion: result.completion as unknown as EventData<"attempt.succeeded">["completion"],
      },
      deps.now(),
    );
    deps.metrics.providerAttempts.inc({ ...labels, outcome: "ok" });
    span.setAttribute("beamline.prompt_tokens", result.usage.promptTokens);
    span.setAttribute("beamline.completion_tokens", result.usage.completionTokens);
    endSpan(span);
  } catch (thrown) {
    const error = toBeamlineError(thrown, "BL_PROVIDER_ERROR");
    const providerError = thrown instanceof ProviderError ? thrown : undefined;
    const retryable = providerError?.retryable ?? false;
    const chunksSent = live?.count() ?? 0;
    const data: EventData<"attempt.failed"> = {
      ...base,
      durationMs: performance.now() - startedMs,
      errorClass: providerError?.errorClass ?? "internal",
      error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
      retryable,
      final: isLastCandidate || !retryable || chunksSent > 0,
      chunksSent,
    };
    if (providerError?.providerStatus !== undefined) data.providerStatus = providerError.providerStatus;
    event = makeEvent("attempt.failed", id, causedBy(decided), data, deps.now());
    endSpan(span, error);
    deps.metrics.providerAttempts.inc({ ...labels, outcome: data.errorClass });
    deps.log.warn(
      {
        tenant: decided.tenant,
        requestId: decided.requestId,
        ...labels,
        attempt,
        code: error.code,
        errorClass: data.errorClass,
      },
      "provider attempt failed",
    );
  }
  deps.metrics.providerLatency.observe(labels, (performance.now() - startedMs) / 1000);
  failpoint("execute.after-provider-call");
  await decisionStored;
  const stored = await deps.store.append(subject, event, { once: true });
  if (stored.duplicate) {
    // Another delivery stored this attempt first; its outcome is the one that counts.
    const first = await deps.store.readLast(StreamNames.requests, subject);
    if (first && (isEvent(first, "attempt.succeeded") || isEvent(first, "attempt.failed"))) return first;
  }
  return event;
}

/** Publishes streamed chunks to the waiting client as they arrive, rewritten to Beamline's ids. */
function liveChunkSender(
  nc: NatsConnection,
  accepted: AcceptedEvent,
  delivery: Delivery,
  attempt: number,
  candidate: Candidate,
) {
  const replyTo = accepted.data.replyTo!;
  const generation = `${delivery.deliveryCount}.${attempt}`;
  let sequence = 0;
  return {
    send(chunk: ChatCompletionChunk) {
      // The usage-only chunk is the gateway's to send (from the stored result, when asked).
      if (chunk.choices.length === 0) return;
      chunk.id = accepted.requestId;
      chunk.model = candidate.model;
      const h = natsHeaders();
      h.set(LiveHeaders.kind, LiveKinds.chunk);
      h.set(LiveHeaders.generation, generation);
      h.set(LiveHeaders.sequence, String(++sequence));
      nc.publish(replyTo, encoder.encode(JSON.stringify(chunk)), { headers: h });
    },
    count: () => sequence,
  };
}
