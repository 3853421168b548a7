import type { Span } from "@opentelemetry/api";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  attemptSubject,
  type BeamlineEvent,
  causedBy,
  isEvent,
  makeEvent,
  requireContent,
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
import type { Delivery } from "../nats/index.js";
import { failpoint, StreamNames } from "../nats/index.js";
import { endSpan } from "../observability/index.js";
import { createChunkAssembler } from "../providers/index.js";
import type { HedgePolicy } from "../routing/index.js";
import { storeOutcomes } from "./admit.js";
import { type AcceptedEvent, stageNow, type WorkerDeps } from "./context.js";
import { hedgingFor } from "./hedge.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import {
  endProviderSpan,
  observeProviderCall,
  providerTraceContext,
  startProviderSpan,
  telemetryOf,
} from "./provider-telemetry.js";
import type { DecidedEvent } from "./route.js";

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

type SucceededRecord = Extract<AttemptRecord, { type: "attempt.succeeded" }>;

/** What the execute step works with for one delivery of one request. */
export interface ExecuteInput {
  deps: WorkerDeps;
  accepted: AcceptedEvent;
  decided: DecidedEvent;
  request: ChatRequest;
  /** Set for an embeddings request (then `request` is its routing view): what the providers embed. */
  embeddings?: EmbeddingsRequest | undefined;
  /** The tenant's extension pipeline; its `post` steps process the answer. */
  pipeline: Pipeline;
  delivery: Delivery;
  /** Attempt events earlier deliveries stored, in attempt order; this one resumes after them. */
  stored: readonly AttemptEvent[];
  /** Settles once the decision is stored: nothing that follows it may be written before. */
  decisionStored: Promise<void>;
  /** The tenant's hedging (policy `hedge`); absent: the request is not hedged. */
  hedge?: HedgePolicy | undefined;
}

/** What the execute step ends with: the final attempt, and every attempt stored for the request. */
export interface ExecuteResult {
  final: AttemptEvent;
  /** In attempt order, earlier deliveries' included: the hedge losers the terminal bills are among them. */
  attempts: AttemptEvent[];
}

/** One run of the step: its input plus what it learns while the executor calls providers. */
interface ExecuteRun extends ExecuteInput {
  /** The attempt event stored in each slot, this delivery's or the one that won the slot. */
  events: Map<number, AttemptEvent>;
  /** Post-processing of each streamed attempt, created at its first chunk. */
  streams: Map<number, StreamPost>;
  live: LiveSender;
  /** The provider span of each attempt whose call started in this delivery. */
  spans: Map<number, Span>;
}

/** What the post steps made of a successful attempt's answer. */
interface PostResult {
  outcomes: StepOutcome[];
  rejection?: ExtensionError;
  completion?: ChatCompletion;
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
export async function executeStep(input: ExecuteInput): Promise<ExecuteResult> {
  const run: ExecuteRun = {
    ...input,
    events: new Map(input.stored.map((event) => [event.data.attempt, event])),
    streams: new Map(),
    live: liveSender(input.deps, input.accepted, input.delivery),
    spans: new Map(),
  };
  const { deps, decided, accepted } = input;
  const hedging = hedgingFor(deps, decided, input.request, input.hedge);
  const outcome = await executeCandidates(
    {
      requestId: decided.requestId,
      request: input.request,
      embeddings: input.embeddings,
      stream: accepted.data.stream,
      candidates: decided.data.candidates,
      storedAttempts: input.stored.map((event) => ({ type: event.type, data: event.data }) as AttemptRecord),
      providers: deps.providers,
      breakers: deps.health,
      pools: deps.execution.pools,
      policy: deps.execution.policy,
      clock: deps.clock,
      random: deps.execution.random,
      ...(hedging ? { hedge: hedging.settings } : {}),
    },
    {
      recordAttempt: (record) => recordAttempt(run, record),
      sendChunk: (chunk, generation) => sendChunk(run, chunk, generation),
      startCall: (call) => {
        const telemetry = telemetryOf(deps.providers, call.provider);
        const span = startProviderSpan(decided.traceparent, call, telemetry, input.request);
        run.spans.set(call.attempt, span);
        return providerTraceContext(span);
      },
      ...hedging?.hooks,
    },
  ).catch((error: unknown) => {
    endOpenSpans(run, error);
    throw error;
  });
  return {
    final: run.events.get(outcome.attempt.data.attempt)!,
    attempts: [...run.events.entries()].sort(([a], [b]) => a - b).map(([, event]) => event),
  };
}

/** Ends the spans of calls that never recorded an outcome (the delivery was cancelled mid-call). */
function endOpenSpans(run: ExecuteRun, error: unknown): void {
  for (const span of run.spans.values()) {
    endSpan(span, { code: "cancelled", message: error instanceof Error ? error.message : String(error) });
  }
  run.spans.clear();
}

function hasPostSteps(run: ExecuteRun): boolean {
  return run.pipeline.post.length > 0;
}

function newResponseProcessor(run: ExecuteRun): ResponseProcessor {
  const { accepted, deps } = run;
  return createResponseProcessor(run.pipeline, {
    tenant: accepted.tenant,
    requestId: accepted.requestId,
    resolver: deps.extensions.resolver,
    external: deps.extensions.external,
    traceparent: accepted.traceparent,
  });
}

function streamPost(run: ExecuteRun, attempt: number): StreamPost {
  let post = run.streams.get(attempt);
  if (!post) {
    post = { processor: newResponseProcessor(run), assembler: createChunkAssembler() };
    run.streams.set(attempt, post);
  }
  return post;
}

/** Relays a streamed chunk to the client, through the post steps when the pipeline has any. */
function sendChunk(
  run: ExecuteRun,
  chunk: ChatCompletionChunk,
  generation: { attempt: number; model: string },
) {
  if (!hasPostSteps(run)) {
    run.live.send(chunk, generation.attempt, generation.model);
    return;
  }
  const post = streamPost(run, generation.attempt);
  if (post.rejection) return; // the stream ends with the rejection once the provider is done
  const result = post.processor.transformChunk(chunk);
  for (const out of result.chunks) {
    post.assembler.add(out);
    run.live.send(out, generation.attempt, generation.model);
  }
  if (result.rejection) post.rejection = result.rejection;
}

/**
 * The executor's hook for a finished attempt: post-processes a success, stores the attempt in
 * its slot and reports it. Returns what counts: the record, or the one another delivery stored
 * first.
 */
async function recordAttempt(run: ExecuteRun, record: AttemptRecord): Promise<AttemptRecord> {
  if (record.type === "attempt.succeeded" && hasPostSteps(run)) await postProcess(run, record);
  // The attempt's last chunks reach the client before anything its outcome leads to.
  run.live.flush();
  traceAttempt(run, record);
  const winner = await storeAttempt(run, record);
  if (winner) return winner;
  observeAttempt(run, record);
  return record;
}

/**
 * Stores the attempt once in its slot. When another delivery stored that attempt first, its
 * outcome is the one that counts and is returned; otherwise undefined.
 */
async function storeAttempt(run: ExecuteRun, record: AttemptRecord): Promise<AttemptRecord | undefined> {
  const { deps, decided } = run;
  const n = record.data.attempt;
  const event = makeEvent(
    record.type,
    `${decided.requestId}:attempt.${n}`,
    causedBy(decided),
    record.data,
    stageNow(deps),
  ) as AttemptEvent;
  failpoint("execute.after-provider-call");
  await run.decisionStored;
  const subject = attemptSubject(decided.tenant, decided.requestId, n);
  const result = await deps.store.append(subject, event, { once: true });
  if (!result.duplicate) {
    run.events.set(n, event);
    return undefined;
  }
  const first = result.stored;
  if (!isEvent(first, "attempt.succeeded") && !isEvent(first, "attempt.failed")) {
    throw new BeamlineError("BL_INTERNAL", `${subject} holds a ${first.type}, not an attempt`);
  }
  run.events.set(n, first);
  return { type: first.type, data: first.data } as AttemptRecord;
}

/** Metrics for a stored attempt, and a warning when it failed. */
function observeAttempt(run: ExecuteRun, record: AttemptRecord): void {
  const { deps, decided } = run;
  const labels = { provider: record.data.provider, model: record.data.model };
  observeProviderCall(deps.metrics, record, telemetryOf(deps.providers, record.data.provider));
  countHedge(deps, decided.tenant, record);
  if (record.type === "attempt.succeeded") {
    // A plain call's first token is its whole answer: that is what a hedge deadline races.
    const { streamed, timeToFirstTokenMs, durationMs } = record.data;
    deps.execution.latency?.observe(
      labels.provider,
      labels.model,
      streamed,
      streamed ? timeToFirstTokenMs : durationMs,
    );
    return;
  }
  deps.log.warn(
    {
      tenant: decided.tenant,
      requestId: decided.requestId,
      ...labels,
      attempt: record.data.attempt,
      code: record.data.error.code,
      errorClass: record.data.errorClass,
      next: record.data.next,
    },
    "provider attempt failed",
  );
}

/**
 * Counts a hedging tenant's first attempt once, from the primary's record: which attempt of
 * the pair answered, or why no hedge started.
 */
function countHedge(deps: WorkerDeps, tenant: string, record: AttemptRecord): void {
  const hedge = record.data.hedge;
  if (hedge?.role !== "primary") return;
  const outcome =
    hedge.outcome === "declined"
      ? `declined_${hedge.declined ?? "unknown"}`
      : hedge.outcome === "lost"
        ? "won_by_hedge"
        : hedge.outcome === "won"
          ? "won_by_primary"
          : hedge.outcome;
  deps.metrics.hedges.inc({ tenant, outcome });
}

/**
 * Runs the post steps on a successful attempt, stores their outcomes and writes what they
 * decided into the record: the processed completion, or the rejection without the answer.
 */
async function postProcess(run: ExecuteRun, record: SucceededRecord): Promise<void> {
  const result = run.accepted.data.stream
    ? await postProcessStream(run, record)
    : await postProcessCompletion(run, record);
  // Like the attempt, post outcomes follow the stored decision: a delivery whose decision
  // lost to another's (BL_DELIVERY_OVERLAP) must not take the other's write-once ext.post slots.
  await run.decisionStored;
  await storeOutcomes(run.deps, run.decided, result.outcomes);
  applyPostResult(record, result);
}

/** Ends a streamed attempt's post-processing: flushes held chunks, then checks the whole answer. */
async function postProcessStream(run: ExecuteRun, record: SucceededRecord): Promise<PostResult> {
  const post = streamPost(run, record.data.attempt);
  if (!post.rejection) {
    const end = post.processor.endStream();
    for (const chunk of end.chunks) {
      post.assembler.add(chunk);
      run.live.send(chunk, record.data.attempt, record.data.model);
    }
    if (end.rejection) post.rejection = end.rejection;
  }
  if (post.rejection) return { outcomes: post.rejection.outcomes, rejection: post.rejection.error };
  const assembled = { ...post.assembler.completion(), usage: completionUsage(record) };
  return postResultOf(await post.processor.completeStream(assembled));
}

async function postProcessCompletion(run: ExecuteRun, record: SucceededRecord): Promise<PostResult> {
  const completion = requireContent(record.data.completion, record);
  return postResultOf(await newResponseProcessor(run).processCompletion(completion));
}

function postResultOf(result: Awaited<ReturnType<ResponseProcessor["processCompletion"]>>): PostResult {
  return result.kind === "reject"
    ? { outcomes: result.outcomes, rejection: result.error }
    : { outcomes: result.outcomes, completion: result.completion };
}

function applyPostResult(record: SucceededRecord, { rejection, completion }: PostResult): void {
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
    record.data.completion = withoutContent(requireContent(record.data.completion, record));
  } else if (completion) {
    record.data.completion = completion;
  }
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

interface LiveSender {
  send(chunk: ChatCompletionChunk, attempt: number, model: string): void;
  /** Publishes the chunks still held, before anything that must follow them. */
  flush(): void;
}

/**
 * Publishes streamed chunks to the waiting client as they arrive, rewritten to Beamline's ids.
 * The generation (`<delivery>.<attempt>`) lets the gateway refuse to splice two answers.
 *
 * Chunks that arrive in the same turn of the event loop (a provider often writes several SSE
 * events in one packet) leave as one message, newline-separated, at the end of that turn: a
 * NATS message costs far more than a chunk (bench/RESULTS.md, "Streaming"). A lone chunk still
 * leaves as a plain `chunk` message, so a paced stream sees no change; a client that did not
 * ask for batches (`batchedChunks`) gets every chunk on its own.
 */
function liveSender(deps: WorkerDeps, accepted: AcceptedEvent, delivery: Delivery): LiveSender {
  const replyTo = accepted.data.stream ? accepted.data.replyTo : undefined;
  const batches = accepted.data.batchedChunks === true;
  const sequences = new Map<number, number>();
  let held: { attempt: number; firstSequence: number; chunks: string[] } | undefined;
  let scheduled: NodeJS.Immediate | undefined;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (!replyTo || !held) return;
    const { attempt, firstSequence, chunks } = held;
    held = undefined;
    deps.live.send(replyTo, {
      headers: {
        [LiveHeaders.kind]: chunks.length === 1 ? LiveKinds.chunk : LiveKinds.chunks,
        [LiveHeaders.generation]: `${delivery.deliveryCount}.${attempt}`,
        [LiveHeaders.sequence]: String(firstSequence),
      },
      body: () => ({ payload: encoder.encode(chunks.join("\n")) }),
    });
  };
  return {
    send(chunk: ChatCompletionChunk, attempt: number, model: string) {
      if (!replyTo || chunk.choices.length === 0) return;
      chunk.id = accepted.requestId;
      chunk.model = model;
      if (held && held.attempt !== attempt) flush();
      const sequence = (sequences.get(attempt) ?? 0) + 1;
      sequences.set(attempt, sequence);
      // JSON.stringify never writes a raw line break, so one separates chunks unambiguously.
      if (held) held.chunks.push(JSON.stringify(chunk));
      else held = { attempt, firstSequence: sequence, chunks: [JSON.stringify(chunk)] };
      if (batches) scheduled ??= setImmediate(flush);
      else flush();
    },
    flush,
  };
}

/**
 * Ends the attempt's provider span: the one opened when its call started, or, for an attempt
 * that never called (backpressure, every breaker open), one recorded after the fact.
 */
function traceAttempt(run: ExecuteRun, record: AttemptRecord): void {
  const live = run.spans.get(record.data.attempt);
  if (live) {
    run.spans.delete(record.data.attempt);
    endProviderSpan(live, record);
    return;
  }
  const started = Date.parse(record.data.startedAt);
  const startTime = Number.isFinite(started) ? started : undefined;
  const span = startProviderSpan(
    run.decided.traceparent,
    record.data,
    telemetryOf(run.deps.providers, record.data.provider),
    run.request,
    startTime,
  );
  endProviderSpan(span, record, startTime === undefined ? undefined : startTime + record.data.durationMs);
}

function completionUsage(record: SucceededRecord) {
  const { promptTokens, completionTokens, cachedTokens } = record.data.usage;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

function withoutContent(completion: ChatCompletion): ChatCompletion {
  return {
    ...completion,
    choices: completion.choices.map((choice) => ({
      index: choice.index,
      finish_reason: choice.finish_reason,
      message: { role: "assistant", content: null },
    })),
  };
}
