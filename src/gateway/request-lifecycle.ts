import type { CacheControl, CacheStatus } from "../cache/index.js";
import type { ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResult } from "../chat/index.js";
import { BeamlineError, isBeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import { makeEvent, RequestSlots, requestSubject, requireContent } from "../events/index.js";
import type { EventStore, OnceResult } from "../nats/index.js";
import { StreamNames } from "../nats/index.js";
import {
  type BeamlineMetrics,
  contextFromTraceparent,
  endSpan,
  startSpan,
  traceparentOf,
} from "../observability/index.js";
import type { TerminalEvent } from "../stages/index.js";
import type { Principal } from "./auth.js";
import { type RequestFailure, requestFailureOf } from "./failure-answer.js";
import {
  checkIdempotentRetry,
  type IdempotentInFlight,
  idempotencyKeyReused,
  pollTerminal,
  requestFingerprint,
} from "./idempotency.js";
import { newRequestId } from "./request-id.js";
import { unavailableError } from "./unavailable.js";
import type { WaiterRegistry } from "./waiters.js";

/**
 * What every HTTP front door does with a validated canonical request, whatever dialect it
 * speaks: check the model, record `request.accepted`, wait for the terminal event on the live
 * inbox (or, when the live notice was lost, in the log) and report the outcome. The front door
 * only translates: both `POST /v1/chat/completions` and `POST /v1/messages` run through here.
 */
export interface RequestLifecycleDeps {
  store: EventStore;
  waiters: WaiterRegistry;
  metrics: BeamlineMetrics;
  requestTimeoutMs: number;
  now: () => Date;
  /** Longest wait to store `request.accepted`, retries included; default 2 s. */
  appendTimeoutMs?: number | undefined;
  /** The NATS connection's phase: while it is down nothing is handed to the client library. */
  connection?: { readonly connected: boolean } | undefined;
  /** How long an `Idempotency-Key` returns its original outcome; default 24 h. */
  idempotencyWindowMs?: number | undefined;
  /** This gateway's requests with an `Idempotency-Key` being answered now. */
  idempotentInFlight?: IdempotentInFlight<RequestOutcome> | undefined;
}

const DEFAULT_APPEND_TIMEOUT_MS = 2_000;
const DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60_000;

/** Normalised token counts of a completed request, as `request.completed` stores them. */
export interface CompletedUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export type RequestOutcome =
  | {
      kind: "completed";
      completion: ChatCompletion;
      usage: CompletedUsage;
      /** The rate limits as admission left them, when limits apply (the answer's headers). */
      rateLimits?: EventData<"request.completed">["rateLimits"];
      /** Live chunks may be missing (lost in a reconnect): a started stream must not end as a success. */
      streamGap?: boolean;
      /** What the response cache did, when the tenant has one: the `x-beamline-cache` header. */
      cacheStatus?: CacheStatus;
    }
  | ({ kind: "failed" } & RequestFailure)
  | { kind: "timeout"; error: BeamlineError }
  /**
   * `request.accepted` could not be stored in time. `stored: "no"` only when that is certain
   * (the connection was down and nothing was handed to the client library); otherwise
   * `"maybe"`: the write may still land and the request run.
   */
  | { kind: "unavailable"; error: BeamlineError; stored: "no" | "maybe" };

/** The outcome of an embeddings request: as a chat request's, with the vectors as the answer. */
export type EmbeddingsOutcome =
  | { kind: "embedded"; embeddings: EmbeddingsResult; usage: CompletedUsage }
  | Exclude<RequestOutcome, { kind: "completed" }>;

/** What the lifecycle itself reports: a completion is handed over as the stored terminal event. */
type StoredOutcome =
  | {
      kind: "completed";
      terminal: Extract<TerminalEvent, { type: "request.completed" }>;
      streamGap?: boolean;
    }
  | Exclude<RequestOutcome, { kind: "completed" }>;

/** The first value of a request header that may repeat (e.g. the client's `traceparent`). */
export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A new request id, taken before anything is written so it can go into response headers. */
export function nextRequestId(deps: Pick<RequestLifecycleDeps, "now">): string {
  return newRequestId(deps.now().getTime());
}

/**
 * Records `request.accepted` (event id `<requestId>:<accepted slot>`, written once) for
 * `chat` coming in through `frontDoor`, then resolves with the outcome. `onChunk` receives
 * each live chunk (OpenAI chunk JSON bytes and the execution generation) while waiting.
 * Observes `requestDuration` with outcome completed / failed / timeout / unavailable, and runs
 * in a server span named `spanName` that continues the client's `traceparent` and whose
 * context goes into the event envelope, so the trace follows the request through every step.
 *
 * With an `idempotencyKey` the request id is derived from it (see `idempotentRequestId`): a
 * second request with the key on this gateway joins the first one's answer; one that finds
 * the `accepted` slot already written (another gateway, an earlier attempt cut off by a
 * stall) checks that it is the same request and waits for that request's terminal event.
 */
export async function acceptAndAwait(
  deps: RequestLifecycleDeps,
  input: AcceptInput,
): Promise<RequestOutcome> {
  const inFlight = deps.idempotentInFlight;
  const once = async (): Promise<RequestOutcome> => {
    const outcome = await acceptAndAwaitOnce(deps, input);
    if (outcome.kind !== "completed") return outcome;
    const { completion, usage, rateLimits, cache } = outcome.terminal.data;
    return {
      kind: "completed",
      completion: requireContent(completion, outcome.terminal),
      usage,
      ...(rateLimits ? { rateLimits } : {}),
      ...(cache ? { cacheStatus: cache.status } : {}),
      ...(outcome.streamGap ? { streamGap: true } : {}),
    };
  };
  if (input.idempotencyKey === undefined || inFlight === undefined) return once();
  const fingerprint = requestFingerprint(input.chat);
  const running = inFlight.get(input.requestId);
  if (running) {
    if (running.fingerprint !== fingerprint) throw idempotencyKeyReused(input.requestId);
    return running.outcome;
  }
  return inFlight.run(input.requestId, fingerprint, once);
}

/**
 * {@link acceptAndAwait} for `POST /v1/embeddings`: records `request.accepted` with operation
 * `embeddings` (the embeddings request as content, no chat `request`) and waits for the terminal
 * event the same way. An `Idempotency-Key` retry is recognised through the log (the stored
 * request must be the same), not joined in flight.
 */
export async function acceptEmbeddingsAndAwait(
  deps: RequestLifecycleDeps,
  input: Omit<AcceptInput, "chat" | "onChunk"> & { embeddings: EmbeddingsRequest; view: ChatRequest },
): Promise<EmbeddingsOutcome> {
  const outcome = await acceptAndAwaitOnce(deps, { ...input, chat: input.view });
  if (outcome.kind !== "completed") return outcome;
  const { embeddings, usage } = outcome.terminal.data;
  return { kind: "embedded", embeddings: requireContent(embeddings, outcome.terminal), usage };
}

/** What a front door hands to the lifecycle. */
export interface AcceptInput {
  principal: Principal;
  requestId: string;
  chat: ChatRequest;
  frontDoor: EventData<"request.accepted">["frontDoor"];
  /** Span name, e.g. `POST /v1/messages`. */
  spanName: string;
  /** The client's `traceparent` header, when it sent one. */
  traceparent?: string | undefined;
  /** The client's `Idempotency-Key`; `requestId` must then be derived from it. */
  idempotencyKey?: string | undefined;
  onChunk?: (json: Uint8Array, generation: string) => void;
  /** The Responses front door's metadata for `request.accepted` (see its schema). */
  responses?: EventData<"request.accepted">["responses"];
  /** The client's cache controls (`cache-control`, `x-beamline-cache` request headers). */
  cacheControl?: CacheControl | undefined;
  /** What the response cache did, told before the first chunk of an answer from a provider. */
  onCacheStatus?: (status: CacheStatus) => void;
  /** The rate limits admission left, told before the first chunk of a streamed answer. */
  onRateLimits?: (limits: NonNullable<EventData<"request.completed">["rateLimits"]>) => void;
}

async function acceptAndAwaitOnce(
  deps: RequestLifecycleDeps,
  input: AcceptInput & { embeddings?: EmbeddingsRequest },
): Promise<StoredOutcome> {
  const { principal, requestId, chat } = input;
  const started = performance.now();
  const stream = chat.stream === true;
  const span = startSpan(input.spanName, contextFromTraceparent(input.traceparent), "server", {
    "beamline.tenant": principal.tenant,
    "beamline.request_id": requestId,
    "beamline.model": chat.model,
    "beamline.stream": stream,
  });
  const traceparent = traceparentOf(span);
  const data: EventData<"request.accepted"> = {
    // An embeddings request is stored as itself; `chat` is then only its routing view.
    ...(input.embeddings ? { operation: "embeddings", embeddings: input.embeddings } : { request: chat }),
    frontDoor: input.frontDoor,
    stream,
    apiKeyId: principal.apiKeyId,
    replyTo: deps.waiters.replySubject(requestId),
    ...(stream ? { batchedChunks: true as const } : {}),
    ...(input.responses ? { responses: input.responses } : {}),
  };
  if (input.cacheControl !== undefined) data.cacheControl = input.cacheControl;
  const accepted = makeEvent(
    "request.accepted",
    `${requestId}:${RequestSlots.accepted}`,
    {
      tenant: principal.tenant,
      requestId,
      correlationId: requestId,
      ...(traceparent ? { traceparent } : {}),
    },
    data,
    deps.now(),
  );
  let timer: NodeJS.Timeout | undefined;
  let unregister: () => void = () => undefined;
  let spanError: { code?: string; message: string } | undefined;
  const polling = { stopped: false };
  let streamGap = false;
  const terminal = new Promise<TerminalEvent | undefined>((resolve) => {
    unregister = deps.waiters.register(requestId, {
      tenant: principal.tenant,
      onChunk: input.onChunk,
      onRateLimits: input.onRateLimits,
      onCacheStatus: (status) => {
        if (status === "miss" || status === "bypass") input.onCacheStatus?.(status);
      },
      onTerminal: (event, delivery) => {
        streamGap = delivery?.streamGap === true;
        resolve(event);
      },
    });
    timer = setTimeout(() => resolve(undefined), deps.requestTimeoutMs);
  });

  try {
    const appendTimeoutMs = deps.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS;
    const unavailable = (stored: "no" | "maybe", cause?: unknown): StoredOutcome => {
      deps.metrics.requestDuration.observe(
        { tenant: principal.tenant, stream: String(stream), outcome: "unavailable" },
        (performance.now() - started) / 1000,
      );
      const error = unavailableError(requestId, stored, appendTimeoutMs, cause);
      spanError = error;
      return { kind: "unavailable", error, stored };
    };
    // While reconnecting, nats.js would buffer the write and send it later: the client would
    // hear "unavailable" about a request that then runs. Hand it nothing instead.
    if (deps.connection && !deps.connection.connected) return unavailable("no");
    const acceptedSubject = requestSubject(principal.tenant, requestId, RequestSlots.accepted);
    let appended: OnceResult;
    try {
      appended = await deps.store.append(acceptedSubject, accepted, {
        once: true,
        timeoutMs: appendTimeoutMs,
      });
    } catch (error) {
      if (isBeamlineError(error, "BL_NATS_UNAVAILABLE")) return unavailable("maybe", error);
      throw error;
    }
    let storedBefore: Promise<TerminalEvent | undefined> | undefined;
    if (appended.duplicate && input.idempotencyKey !== undefined) {
      const original = appended.stored;
      const originalData =
        original.type === "request.accepted" ? (original.data as EventData<"request.accepted">) : undefined;
      const originalRequest = originalData?.request ?? originalData?.embeddings;
      // Without readable content (an erased tenant's) there is no body to compare.
      if (originalRequest) {
        checkIdempotentRetry({
          requestId,
          retry: input.embeddings ?? chat,
          original: originalRequest,
          originalTimeMs: Date.parse(original.time),
          nowMs: deps.now().getTime(),
          windowMs: deps.idempotencyWindowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS,
        });
      }
      // The original's live notices go to whichever gateway accepted it: read its terminal slot.
      storedBefore = Promise.race([terminal, pollTerminal(deps.store, principal.tenant, requestId, polling)]);
    }
    let outcome = await (storedBefore ?? terminal);
    // The live notice can be lost (a reconnect); the log cannot: look there before giving up.
    outcome ??= (await deps.store.readLast(
      StreamNames.requests,
      requestSubject(principal.tenant, requestId, RequestSlots.terminal),
    )) as TerminalEvent | undefined;
    const labels = { tenant: principal.tenant, stream: String(stream) };
    const seconds = (performance.now() - started) / 1000;
    if (!outcome) {
      deps.metrics.requestDuration.observe({ ...labels, outcome: "timeout" }, seconds);
      const error = new BeamlineError(
        "BL_REQUEST_TIMEOUT",
        `No answer within ${deps.requestTimeoutMs} ms. The request ${requestId} may still complete; its history is in the event log.`,
      );
      spanError = error;
      return { kind: "timeout", error };
    }
    const completed = outcome.type === "request.completed";
    deps.metrics.requestDuration.observe({ ...labels, outcome: completed ? "completed" : "failed" }, seconds);
    if (completed) {
      return {
        kind: "completed",
        terminal: outcome as Extract<TerminalEvent, { type: "request.completed" }>,
        ...(streamGap ? { streamGap } : {}),
      };
    }
    const failure = requestFailureOf(outcome.data as EventData<"request.failed">);
    spanError = failure.error;
    return { kind: "failed", ...failure };
  } catch (error) {
    spanError = error instanceof Error ? error : { message: String(error) };
    throw error;
  } finally {
    polling.stopped = true;
    clearTimeout(timer);
    unregister();
    endSpan(span, spanError);
  }
}
