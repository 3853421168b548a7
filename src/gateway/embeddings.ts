import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type EmbeddingsRequest,
  embeddingsAnswer,
  embeddingsRequestSchema,
  embeddingsRoutingView,
} from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Principal } from "./auth.js";
import { openAiErrorBody, storedErrorBody } from "./error-body.js";
import { applyFailureHeaders } from "./failure-answer.js";
import type { FrontDoorDeps } from "./front-door.js";
import { IDEMPOTENCY_HEADER, idempotentRequestId, parseIdempotencyKey } from "./idempotency.js";
import { assertKnownModel } from "./model-check.js";
import { acceptEmbeddingsAndAwait, firstHeader, nextRequestId } from "./request-lifecycle.js";
import { OPENAI_REQUEST_ID_HEADERS } from "./sse.js";

/** Validates the body against OpenAI's embeddings schema; the first problem names the parameter. */
export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BeamlineError("BL_BAD_REQUEST", "The request body must be a JSON object.");
  }
  const parsed = embeddingsRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.length > 0 ? String(issue.path[0]) : "";
    throw new BeamlineError("BL_BAD_REQUEST", `Invalid value for '${param || "body"}': ${issue.message}`, {
      param: param || undefined,
    });
  }
  return parsed.data;
}

/**
 * POST /v1/embeddings, in OpenAI's wire format. The request runs through the same lifecycle as
 * a chat request (`request.accepted` with operation `embeddings`, routing to embedding models
 * only, quotas, attempts with failover, the terminal event, billing); only the answer differs:
 * the vectors, as floats or, with `encoding_format: "base64"` (the `openai` SDK's default),
 * little-endian float32 in base64. Never streamed.
 */
export async function handleEmbeddings(
  deps: FrontDoorDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const embeddings = parseEmbeddingsRequest(request.body);
  assertKnownModel(deps, principal.tenant, embeddings.model, "embeddings");
  const idempotencyKey = parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]);
  const requestId =
    idempotencyKey === undefined
      ? nextRequestId(deps)
      : idempotentRequestId(principal.tenant, idempotencyKey);
  for (const name of OPENAI_REQUEST_ID_HEADERS) reply.header(name, requestId);

  const outcome = await acceptEmbeddingsAndAwait(deps, {
    principal,
    requestId,
    embeddings,
    view: embeddingsRoutingView(embeddings),
    frontDoor: "openai",
    spanName: "POST /v1/embeddings",
    traceparent: firstHeader(request.headers["traceparent"]),
    idempotencyKey,
  });
  if (outcome.kind === "embedded") {
    const usage = { prompt_tokens: outcome.usage.promptTokens, total_tokens: outcome.usage.promptTokens };
    await reply
      .code(200)
      .send(embeddingsAnswer({ ...outcome.embeddings, usage }, embeddings.encoding_format));
    return;
  }
  if (outcome.kind === "unavailable") {
    const body = openAiErrorBody(outcome.error) as { error: Record<string, unknown> };
    body.error["request_id"] = requestId;
    body.error["stored"] = outcome.stored;
    reply.header("retry-after", String(Math.ceil((outcome.error.retryAfterMs ?? 1000) / 1000)));
    await reply.code(outcome.error.httpStatus).send(body);
    return;
  }
  if (outcome.kind === "timeout") {
    await reply.code(outcome.error.httpStatus).send(openAiErrorBody(outcome.error));
    return;
  }
  deps.log
    .child({ tenant: principal.tenant, requestId })
    .info({ code: outcome.error.code }, "request failed");
  applyFailureHeaders(reply, outcome);
  await reply.code(outcome.error.httpStatus).send(storedErrorBody(outcome.error, outcome.extension));
}

/** Registers `POST /v1/embeddings` on the authenticated `/v1` scope. */
export function registerEmbeddingsRoute(app: FastifyInstance, deps: FrontDoorDeps): void {
  app.post("/v1/embeddings", async (request, reply) => {
    await handleEmbeddings(deps, request.principal!, request, reply);
  });
}
