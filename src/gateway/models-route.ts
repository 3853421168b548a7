import type { IncomingHttpHeaders } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ModelCatalog } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { isModelAllowed, type Principal } from "./auth.js";
import { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
import { anthropicErrorBody, anthropicHttpStatus, ERROR_CODE_HEADER } from "./messages-response.js";
import { listModels, type ModelListEntry, type ModelViews } from "./model-check.js";

/**
 * `GET /v1/models/{id}` in both dialects: OpenAI's model object, or Anthropic's when the
 * request carries `anthropic-version` or authenticates with `x-api-key` (as Anthropic's SDK
 * does). A model the tenant cannot use (unknown, or outside the key's model scope) is a 404 in
 * the same dialect, so a scoped key learns nothing about models it may not use.
 */

export interface ModelRouteDeps extends ModelViews {
  log: Logger;
  maxBodyBytes: number;
}

/** Anthropic's model object (`ModelInfo`), the fields Beamline knows. */
export interface AnthropicModelInfo {
  type: "model";
  id: string;
  display_name: string;
  /** RFC 3339; Beamline's catalog records no release date, so it is the epoch. */
  created_at: string;
  /** The context window, when the catalog states it. */
  max_input_tokens: number | null;
  /** The longest answer, when the catalog states it. */
  max_tokens: number | null;
}

/** Whether a request speaks Anthropic's dialect: `anthropic-version` or an `x-api-key` header. */
export function isAnthropicDialect(headers: IncomingHttpHeaders): boolean {
  return headers["anthropic-version"] !== undefined || headers["x-api-key"] !== undefined;
}

/**
 * The listed model a tenant's key may use under `id` (as listed by `GET /v1/models`, or a
 * catalog alias of a listed model, answered under the name asked for); undefined otherwise.
 */
export function findModel(
  views: ModelViews,
  principal: Principal,
  id: string,
  catalog: ModelCatalog,
): ModelListEntry | undefined {
  const { data } = listModels(views, principal.tenant, (model) => isModelAllowed(principal, model, catalog));
  const listed = data.find((entry) => entry.id === id);
  if (listed !== undefined) return listed;
  const resolved = catalog.resolve(id);
  if (resolved === undefined || !isModelAllowed(principal, id, catalog)) return undefined;
  const entry = data.find((candidate) => candidate.id === resolved.id);
  return entry === undefined ? undefined : { ...entry, id };
}

/** The Anthropic dialect's model object for a listed model. */
export function anthropicModelInfo(entry: ModelListEntry, catalog: ModelCatalog): AnthropicModelInfo {
  const model = entry.beamline_resolution === undefined ? catalog.resolve(entry.id) : undefined;
  return {
    type: "model",
    id: entry.id,
    display_name: entry.id,
    created_at: new Date(entry.created * 1000).toISOString(),
    max_input_tokens: model?.contextWindow ?? null,
    max_tokens: model?.maxOutputTokens ?? null,
  };
}

function sendError(reply: FastifyReply, anthropic: boolean, error: BeamlineError): void {
  if (!anthropic) {
    void reply.code(error.httpStatus).send(openAiErrorBody(error));
    return;
  }
  reply.header(ERROR_CODE_HEADER, error.code);
  void reply.code(anthropicHttpStatus(error.httpStatus)).send(anthropicErrorBody(error));
}

/** Registers `GET /v1/models/:id` on the authenticated scope. */
export function registerModelRoutes(app: FastifyInstance, deps: ModelRouteDeps): void {
  app.get<{ Params: { id: string } }>(
    "/v1/models/:id",
    {
      errorHandler: (error, request: FastifyRequest, reply) => {
        const beamlineError = fromHttpFrameworkError(error, deps.maxBodyBytes);
        if (beamlineError.httpStatus >= 500) deps.log.error({ err: error }, "gateway error");
        sendError(reply, isAnthropicDialect(request.headers), beamlineError);
      },
    },
    async (request, reply) => {
      const catalog = deps.catalog();
      const { id } = request.params;
      const entry = findModel(deps, request.principal!, id, catalog);
      const anthropic = isAnthropicDialect(request.headers);
      if (entry === undefined) {
        const error = new BeamlineError(
          "BL_UNKNOWN_MODEL",
          `The model \`${id}\` does not exist or is not available here; GET /v1/models lists the models you can use.`,
          { param: "model" },
        );
        sendError(reply, anthropic, error);
        return reply;
      }
      return anthropic ? anthropicModelInfo(entry, catalog) : entry;
    },
  );
}
