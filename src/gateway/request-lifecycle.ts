import type { ChatCompletion, ChatRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import { makeEvent, RequestSlots, requestSubject, requireContent } from "../events/index.js";
import type { EventStore } from "../nats/index.js";
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
import { newRequestId } from "./request-id.js";
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
}

/** Normalised token counts of a completed request, as `request.completed` stores them. */
export interface CompletedUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export type RequestOutcome =
  | { kind: "completed"; completion: ChatCompletion; usage: CompletedUsage }
  | ({ kind: "failed" } & RequestFailure)
  | { kind: "timeout"; error: BeamlineError };

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
 * Observes `requestDuration` with outcome completed / failed / timeout, and runs in a server
 * span named `spanName` that continues the client's `traceparent` and whose context goes into
 * the event envelope, so the trace follows the request through every step.
 */
export async function acceptAndAwait(
  deps: RequestLifecycleDeps,
  input: {
    principal: Principal;
    requestId: string;
    chat: ChatRequest;
    frontDoor: EventData<"request.accepted">["frontDoor"];
    /** Span name, e.g. `POST /v1/messages`. */
    spanName: string;
    /** The client's `traceparent` header, when it sent one. */
    traceparent?: string | undefined;
    onChunk?: (json: Uint8Array, generation: string) => void;
  },
): Promise<RequestOutcome> {
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
    request: chat,
    frontDoor: input.frontDoor,
    stream,
    apiKeyId: principal.apiKeyId,
    replyTo: deps.waiters.replySubject(requestId),
  };
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
  const terminal = new Promise<TerminalEvent | undefined>((resolve) => {
    unregister = deps.waiters.register(requestId, {
      onChunk: input.onChunk,
      onTerminal: resolve,
    });
    timer = setTimeout(() => resolve(undefined), deps.requestTimeoutMs);
  });

  try {
    await deps.store.append(requestSubject(principal.tenant, requestId, RequestSlots.accepted), accepted, {
      once: true,
    });
    let outcome = await terminal;
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
      const { completion, usage } = outcome.data as EventData<"request.completed">;
      return { kind: "completed", completion: requireContent(completion, outcome), usage };
    }
    const failure = requestFailureOf(outcome.data as EventData<"request.failed">);
    spanError = failure.error;
    return { kind: "failed", ...failure };
  } catch (error) {
    spanError = error instanceof Error ? error : { message: String(error) };
    throw error;
  } finally {
    clearTimeout(timer);
    unregister();
    endSpan(span, spanError);
  }
}
