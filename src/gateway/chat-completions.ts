import type { FastifyReply, FastifyRequest } from "fastify";
import { StreamNames } from "../../streams/definitions.js";
import type { ModelCatalog } from "../catalog/index.js";
import { type ChatCompletion, type ChatRequest, chatRequestSchema } from "../chat/wire.js";
import { BeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import { makeEvent, newRequestId, RequestSlots, requestSubject } from "../events/index.js";
import type { EventStore } from "../nats/event-store.js";
import {
  type BeamlineMetrics,
  contextFromTraceparent,
  endSpan,
  type Logger,
  startSpan,
  traceparentOf,
} from "../observability/index.js";
import type { TerminalEvent } from "../stages/index.js";
import type { Principal } from "./auth.js";
import { openAiErrorBody, storedErrorBody } from "./error-body.js";
import { SseWriter } from "./sse.js";
import type { WaiterRegistry } from "./waiters.js";

export interface ChatCompletionsDeps {
  store: EventStore;
  waiters: WaiterRegistry;
  catalog: ModelCatalog;
  log: Logger;
  metrics: BeamlineMetrics;
  requestTimeoutMs: number;
  now: () => Date;
}

/** Validates the body against OpenAI's schema; the first problem names the parameter. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BeamlineError("BL_BAD_REQUEST", "The request body must be a JSON object.");
  }
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join(".");
    throw new BeamlineError("BL_BAD_REQUEST", `Invalid value for '${param || "body"}': ${issue.message}`, {
      param: param || undefined,
    });
  }
  return parsed.data;
}

/**
 * POST /v1/chat/completions. The gateway validates, authenticates (done by the hook),
 * records `request.accepted` and waits for the terminal event on its live inbox. Streamed
 * chunks are written the moment they arrive; nothing waits for the whole answer.
 */
export async function handleChatCompletions(
  deps: ChatCompletionsDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const chat = parseChatRequest(request.body);
  if (!deps.catalog.resolve(chat.model)) {
    throw new BeamlineError(
      "BL_UNKNOWN_MODEL",
      `The model \`${chat.model}\` does not exist or is not available here; GET /v1/models lists the models you can use.`,
      { param: "model" },
    );
  }
  const started = performance.now();
  const stream = chat.stream === true;
  const requestId = newRequestId(deps.now().getTime());
  const replyTo = deps.waiters.replySubject(requestId);
  reply.header("x-request-id", requestId);

  // The client's own trace (a `traceparent` header) continues through every step.
  const span = startSpan(
    "POST /v1/chat/completions",
    contextFromTraceparent(headerValue(request, "traceparent")),
    "server",
    {
      "beamline.tenant": principal.tenant,
      "beamline.request_id": requestId,
      "beamline.model": chat.model,
      "beamline.stream": stream,
    },
  );
  const traceparent = traceparentOf(span);
  const data: EventData<"request.accepted"> = {
    request: chat,
    frontDoor: "openai",
    stream,
    apiKeyId: principal.apiKeyId,
    replyTo,
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
  const log = deps.log.child({ tenant: principal.tenant, requestId });
  const sse = stream ? new SseWriter(reply, requestId) : undefined;
  let timer: NodeJS.Timeout | undefined;
  let unregister: () => void = () => undefined;
  let spanError: { code: string; message: string } | undefined;

  const terminal = new Promise<TerminalEvent | undefined>((resolve) => {
    unregister = deps.waiters.register(requestId, {
      onChunk: sse ? (json, generation) => sse.chunk(json, generation) : undefined,
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
    if (!outcome) {
      deps.metrics.requestDuration.observe(
        { ...labels, outcome: "timeout" },
        (performance.now() - started) / 1000,
      );
      const error = new BeamlineError(
        "BL_REQUEST_TIMEOUT",
        `No answer within ${deps.requestTimeoutMs} ms. The request ${requestId} may still complete; its history is in the event log.`,
      );
      spanError = error;
      if (sse?.started) sse.fail(openAiErrorBody(error));
      else await reply.code(error.httpStatus).send(openAiErrorBody(error));
      return;
    }
    deps.metrics.requestDuration.observe(
      { ...labels, outcome: outcome.type === "request.completed" ? "completed" : "failed" },
      (performance.now() - started) / 1000,
    );
    if (outcome.type === "request.completed") {
      const { completion, usage } = outcome.data as EventData<"request.completed">;
      const openAiUsage = {
        prompt_tokens: usage.promptTokens,
        completion_tokens: usage.completionTokens,
        total_tokens: usage.promptTokens + usage.completionTokens,
        prompt_tokens_details: { cached_tokens: usage.cachedTokens },
      };
      if (sse) {
        sse.complete(
          completion as unknown as ChatCompletion,
          chat.stream_options?.include_usage ? openAiUsage : undefined,
        );
      } else {
        await reply.code(200).send({ ...completion, usage: openAiUsage });
      }
      return;
    }
    const { error } = outcome.data as EventData<"request.failed">;
    spanError = error;
    log.info({ code: error.code }, "request failed");
    if (sse?.started) sse.fail(storedErrorBody(error));
    else await reply.code(error.httpStatus).send(storedErrorBody(error));
  } catch (error) {
    spanError = error as Error & { code: string };
    throw error;
  } finally {
    clearTimeout(timer);
    unregister();
    endSpan(span, spanError);
  }
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
