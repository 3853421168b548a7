import { headers as natsHeaders } from "@nats-io/transport-node";
import { StreamNames } from "../../streams/definitions.js";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from "../chat/wire.js";
import {
  attemptSubject,
  type BeamlineEvent,
  causedBy,
  type EventData,
  isEvent,
  makeEvent,
} from "../events/index.js";
import { type AttemptRecord, executeCandidates } from "../execution/index.js";
import {
  type ChunkResult,
  createResponseProcessor,
  type ExtensionError,
  type Pipeline,
  type ResponseProcessor,
  type StepOutcome,
} from "../extensions/index.js";
import { endSpan, startSpan } from "../observability/index.js";
import { contextFromTraceparent } from "../observability/tracing.js";
import { createChunkAssembler } from "../providers/chunk-assembler.js";
import { storeOutcomes } from "./admit.js";
import { type AcceptedEvent, stageNow, type WorkerDeps } from "./context.js";
import { failpoint } from "./failpoints.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { DecidedEvent } from "./route.js";
import type { Delivery } from "./runner.js";

export type AttemptEvent = BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;

/** Attempt slots read back on a redelivery: more than any policy's attempt budget. */
const MAX_STORED_ATTEMPTS = 64;
const encoder = new TextEncoder();

/** What the post-processing of one streamed attempt holds. */
interface StreamPost {
  processor: ResponseProcessor;
  /** The chunks actually sent, assembled: what the stored completion must say. */
  assembler: ReturnType<typeof createChunkAssembler>;
  rejection?: NonNullable<ChunkResult["rejection"]>;
}

/**
 * The execute step: the executor (src/execution) calls the ranked candidates with retries,
 * failover, breakers, pools and timeouts; this step supplies what it cannot know — storing
 * each attempt in its write-once slot (after the decision is stored), relaying streamed
 * chunks to the waiting client, and the tenant's `post` extensions, which transform chunks
 * on their way out and the completion before it is stored (the provider's raw text is never
 * stored when post-processing changed it). Returns the final attempt event.
 *
 * A crash mid-call means the request is delivered again and the provider called again
 * (at-least-once towards providers); only one outcome per attempt number is ever stored,
 * and a redelivery resumes after the stored attempts, following what they decided.
 */
export async function executeStep(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  decided: DecidedEvent,
  request: ChatRequest,
  pipeline: Pipeline,
  delivery: Delivery,
  stored: readonly AttemptEvent[],
  decisionStored: Promise<void>,
): Promise<AttemptEvent> {
  const events = new Map<number, AttemptEvent>(stored.map((event) => [event.data.attempt, event]));
  const postSteps = pipeline.post.length > 0;
  const extensionContext = {
    tenant: accepted.tenant,
    requestId: accepted.requestId,
    resolver: deps.extensions.resolver,
    external: deps.extensions.external,
  };
  const streams = new Map<number, StreamPost>();
  const streamPost = (attempt: number): StreamPost => {
    let post = streams.get(attempt);
    if (!post) {
      post = {
        processor: createResponseProcessor(pipeline, extensionContext),
        assembler: createChunkAssembler(),
      };
      streams.set(attempt, post);
    }
    return post;
  };
  const live = liveSender(deps, accepted, delivery);

  const postProcess = async (record: Extract<AttemptRecord, { type: "attempt.succeeded" }>) => {
    let outcomes: StepOutcome[];
    let rejection: ExtensionError | undefined;
    let completion: ChatCompletion | undefined;
    if (accepted.data.stream) {
      const post = streamPost(record.data.attempt);
      if (!post.rejection) {
        const end = post.processor.endStream();
        for (const chunk of end.chunks) {
          post.assembler.add(chunk);
          live.send(chunk, record.data.attempt, record.data.model);
        }
        if (end.rejection) post.rejection = end.rejection;
      }
      if (post.rejection) {
        ({ outcomes, error: rejection } = post.rejection);
      } else {
        const assembled = { ...post.assembler.completion(), usage: completionUsage(record) };
        const result = await post.processor.completeStream(assembled as ChatCompletion);
        outcomes = result.outcomes;
        if (result.kind === "reject") rejection = result.error;
        else completion = result.completion;
      }
    } else {
      const processor = createResponseProcessor(pipeline, extensionContext);
      const result = await processor.processCompletion(record.data.completion as unknown as ChatCompletion);
      outcomes = result.outcomes;
      if (result.kind === "reject") rejection = result.error;
      else completion = result.completion;
    }
    // Like the attempt, post outcomes follow the stored decision: a delivery whose decision
    // lost to another's (BL_DELIVERY_OVERLAP) must not take the other's write-once ext.post slots.
    await decisionStored;
    await storeOutcomes(deps, decided, outcomes);
    if (rejection) {
      const { name, version, stage } = rejection.extension;
      record.data.postRejection = {
        error: {
          code: rejection.code,
          message: rejection.message,
          httpStatus: rejection.httpStatus,
          type: rejection.type,
        },
        extension: { name, version, stage },
      };
      // The refused answer is not kept: only that it was refused, and what it cost.
      record.data.completion = withoutContent(record.data.completion);
    } else if (completion) {
      record.data.completion = completion as unknown as EventData<"attempt.succeeded">["completion"];
    }
  };

  const recordAttempt = async (record: AttemptRecord): Promise<AttemptRecord> => {
    if (record.type === "attempt.succeeded" && postSteps) await postProcess(record);
    const n = record.data.attempt;
    traceAttempt(decided, record);
    const labels = { provider: record.data.provider, model: record.data.model };
    const event = makeEvent(
      record.type,
      `${decided.requestId}:attempt.${n}`,
      causedBy(decided),
      record.data,
      stageNow(deps),
    ) as AttemptEvent;
    failpoint("execute.after-provider-call");
    await decisionStored;
    const result = await deps.store.append(attemptSubject(decided.tenant, decided.requestId, n), event, {
      once: true,
    });
    if (result.duplicate) {
      // Another delivery stored this attempt first; its outcome is the one that counts.
      const first = await deps.store.readLast(
        StreamNames.requests,
        attemptSubject(decided.tenant, decided.requestId, n),
      );
      if (first && (isEvent(first, "attempt.succeeded") || isEvent(first, "attempt.failed"))) {
        events.set(n, first);
        return { type: first.type, data: first.data } as AttemptRecord;
      }
    }
    events.set(n, event);
    const outcome = record.type === "attempt.succeeded" ? "ok" : record.data.errorClass;
    deps.metrics.providerAttempts.inc({ ...labels, outcome });
    deps.metrics.providerLatency.observe(labels, record.data.durationMs / 1000);
    if (record.type === "attempt.failed") {
      deps.log.warn(
        {
          tenant: decided.tenant,
          requestId: decided.requestId,
          ...labels,
          attempt: n,
          code: record.data.error.code,
          errorClass: record.data.errorClass,
          next: record.data.next,
        },
        "provider attempt failed",
      );
    }
    return record;
  };

  const sendChunk = (chunk: ChatCompletionChunk, generation: { attempt: number; model: string }) => {
    if (!postSteps) {
      live.send(chunk, generation.attempt, generation.model);
      return;
    }
    const post = streamPost(generation.attempt);
    if (post.rejection) return; // the stream ends with the rejection once the provider is done
    const result = post.processor.transformChunk(chunk);
    for (const out of result.chunks) {
      post.assembler.add(out);
      live.send(out, generation.attempt, generation.model);
    }
    if (result.rejection) post.rejection = result.rejection;
  };

  const outcome = await executeCandidates(
    {
      requestId: decided.requestId,
      request,
      stream: accepted.data.stream,
      candidates: decided.data.candidates,
      storedAttempts: stored.map((event) => ({ type: event.type, data: event.data }) as AttemptRecord),
      providers: deps.providers,
      breakers: deps.health,
      pools: deps.execution.pools,
      policy: deps.execution.policy,
      clock: deps.clock,
      random: deps.execution.random,
    },
    { recordAttempt, sendChunk },
  );
  return events.get(outcome.attempt.data.attempt)!;
}

/** Attempt events already stored for this request, in attempt order (a redelivery resumes after them). */
export async function readStoredAttempts(deps: WorkerDeps, decided: DecidedEvent): Promise<AttemptEvent[]> {
  const found: AttemptEvent[] = [];
  for (let n = 1; n <= MAX_STORED_ATTEMPTS; n++) {
    const event = await deps.store.readLast(
      StreamNames.requests,
      attemptSubject(decided.tenant, decided.requestId, n),
    );
    if (!event || !(isEvent(event, "attempt.succeeded") || isEvent(event, "attempt.failed"))) break;
    found.push(event);
  }
  return found;
}

/**
 * Publishes streamed chunks to the waiting client as they arrive, rewritten to Beamline's ids.
 * The generation (`<delivery>.<attempt>`) lets the gateway refuse to splice two answers.
 */
function liveSender(deps: WorkerDeps, accepted: AcceptedEvent, delivery: Delivery) {
  const replyTo = accepted.data.stream ? accepted.data.replyTo : undefined;
  const sequences = new Map<number, number>();
  return {
    send(chunk: ChatCompletionChunk, attempt: number, model: string) {
      if (!replyTo || chunk.choices.length === 0) return;
      chunk.id = accepted.requestId;
      chunk.model = model;
      const sequence = (sequences.get(attempt) ?? 0) + 1;
      sequences.set(attempt, sequence);
      const h = natsHeaders();
      h.set(LiveHeaders.kind, LiveKinds.chunk);
      h.set(LiveHeaders.generation, `${delivery.deliveryCount}.${attempt}`);
      h.set(LiveHeaders.sequence, String(sequence));
      deps.nc.publish(replyTo, encoder.encode(JSON.stringify(chunk)), { headers: h });
    },
  };
}

/** A provider-call span, recorded after the fact from the attempt's own timing. */
function traceAttempt(decided: DecidedEvent, record: AttemptRecord): void {
  const started = Date.parse(record.data.startedAt);
  const span = startSpan(
    `provider ${record.data.provider}`,
    contextFromTraceparent(decided.traceparent),
    "client",
    {
      "beamline.provider": record.data.provider,
      "beamline.model": record.data.model,
      "beamline.upstream_model": record.data.upstreamModel,
      "beamline.attempt": record.data.attempt,
    },
    Number.isFinite(started) ? started : undefined,
  );
  if (record.type === "attempt.succeeded") {
    span.setAttribute("beamline.prompt_tokens", record.data.usage.promptTokens);
    span.setAttribute("beamline.completion_tokens", record.data.usage.completionTokens);
  }
  endSpan(
    span,
    record.type === "attempt.failed" ? record.data.error : undefined,
    Number.isFinite(started) ? started + record.data.durationMs : undefined,
  );
}

function completionUsage(record: Extract<AttemptRecord, { type: "attempt.succeeded" }>) {
  const { promptTokens, completionTokens, cachedTokens } = record.data.usage;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

function withoutContent(completion: EventData<"attempt.succeeded">["completion"]) {
  return {
    ...completion,
    choices: completion.choices.map((choice) => ({
      index: choice.index,
      finish_reason: choice.finish_reason,
      message: { role: "assistant", content: null },
    })),
  };
}
