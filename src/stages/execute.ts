import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { ConsumerNames, StreamNames } from "../../streams/definitions.js";
import type { ChatCompletionChunk } from "../chat/wire.js";
import { toBeamlineError } from "../errors/index.js";
import {
  attemptSubject,
  type BeamlineEvent,
  causedBy,
  type EventData,
  isEvent,
  makeEvent,
} from "../events/index.js";
import { ProviderError } from "../providers/index.js";
import { type AcceptedEvent, loadAccepted, type StageDeps } from "./context.js";
import { failpoint } from "./failpoints.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { Delivery, StageHandler } from "./runner.js";

type Candidate = EventData<"route.decided">["candidates"][number];
type AttemptEvent = BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;

const encoder = new TextEncoder();

/**
 * execute: route.decided → one attempt event per provider call, trying the ranked
 * candidates in order. A retryable failure moves to the next candidate unless chunks already
 * reached the client (a stream must never splice two answers). The last attempt is marked
 * `final` (or is a success): that is what the finish stage turns into the terminal event.
 *
 * A crash mid-call means the message is delivered again and the provider called again
 * (at-least-once towards providers); attempt slots are write-once, so only one outcome per
 * attempt number is ever stored, and a redelivery first resumes after the stored attempts.
 */
export function executeStage(deps: StageDeps): StageHandler {
  return {
    name: ConsumerNames.execute,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      if (!isEvent(event, "route.decided")) return;
      const accepted = await loadAccepted(deps, event.tenant, event.requestId);
      const candidates = event.data.candidates;
      let attempt = 1;
      if (delivery.deliveryCount > 1) {
        const stored = await storedAttempts(deps, event);
        const last = stored.at(-1);
        if (last && (isEvent(last, "attempt.succeeded") || last.data.final)) return;
        attempt = stored.length + 1;
      }
      for (let index = attempt - 1; index < candidates.length; index++, attempt++) {
        const candidate = candidates[index]!;
        const isLast = index === candidates.length - 1;
        const outcome = await callCandidate(deps, event, accepted, candidate, attempt, delivery, isLast);
        if (isEvent(outcome, "attempt.succeeded") || outcome.data.final) return;
      }
    },
  };
}

/** Attempt events already stored for this request, in attempt order. */
async function storedAttempts(
  deps: StageDeps,
  decided: BeamlineEvent<"route.decided">,
): Promise<AttemptEvent[]> {
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
  decided: BeamlineEvent<"route.decided">,
  accepted: AcceptedEvent,
  candidate: Candidate,
  attempt: number,
  delivery: Delivery,
  isLastCandidate: boolean,
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
