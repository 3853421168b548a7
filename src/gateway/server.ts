import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { ModelCatalog } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import type { EventStore } from "../nats/index.js";
import type { BeamlineMetrics, Logger } from "../observability/index.js";
import type { PolicyView } from "../policies/index.js";
import type { ApiKeyCache, TenancyAdmin, TenantCache } from "../tenancy/index.js";
import {
  type OpenTenantExport,
  registerAdminRoutes,
  tenancyAdminRoutes,
  tenantEventsRoutes,
} from "./admin/index.js";
import { registerPolicyAdminRoutes } from "./admin/policies.js";
import { spendAdminRoutes } from "./admin/spend.js";
import { isModelAllowed, type Principal, registerAuthHooks } from "./auth.js";
import { handleChatCompletions } from "./chat-completions.js";
import { answerClientError, answerConnect } from "./client-error.js";
import { registerConsole } from "./console/index.js";
import type { GatewayDrain } from "./drain.js";
import { registerEmbeddingsRoute } from "./embeddings.js";
import { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
import { type HttpConventions, registerHttpConventions, setRequestIdHeaders } from "./http-conventions.js";
import { IdempotentInFlight } from "./idempotency.js";
import { registerJsonBodyParser } from "./json-body.js";
import { registerMessagesRoute } from "./messages.js";
import { listModels } from "./model-check.js";
import { registerModelRoutes } from "./models-route.js";
import { AuthFailureLimiter, type AuthFailureLimits } from "./operator-auth.js";
import { nextRequestId, type RequestOutcome } from "./request-lifecycle.js";
import { registerResponsesRoute } from "./responses.js";
import type { WaiterRegistry } from "./waiters.js";
import { zodOnlySchemas } from "./zod-only-schemas.js";

export interface GatewayDeps {
  store: EventStore;
  waiters: WaiterRegistry;
  keys: ApiKeyCache;
  tenants: TenantCache;
  /** The current model catalog, read per request (the live catalog view's `current`). */
  catalog: () => ModelCatalog;
  /**
   * Tenant policies, so a tenant's own aliases pass the model check and are listed by
   * `GET /v1/models`; without it only catalog names and `auto` are known to the gateway.
   */
  policies?: PolicyView | undefined;
  log: Logger;
  metrics: BeamlineMetrics;
  maxBodyBytes: number;
  requestTimeoutMs: number;
  now: () => Date;
  /** Readiness: false while NATS is unreachable. */
  /** Whether NATS answers now (a bounded round trip): what `/readyz` reports. */
  isReady: () => Promise<boolean>;
  /** Longest wait to store `request.accepted` before answering 503 (default 2 s). */
  appendTimeoutMs?: number | undefined;
  /** The NATS connection's phase: while it is down, requests are refused "not stored". */
  connection?: { readonly connected: boolean } | undefined;
  /** How long an `Idempotency-Key` returns its original outcome (default 24 h). */
  idempotencyWindowMs?: number | undefined;
  /** Graceful stop: while draining, `/readyz` and new requests answer 503. */
  drain?: GatewayDrain | undefined;
  /** The admin API's bearer token; when undefined the admin API is not mounted (404). */
  adminToken: string | undefined;
  tenancyAdmin: TenancyAdmin;
  /** Failed admin authentications allowed per client address (default: 10, then one per 6 s). */
  operatorAuth?: AuthFailureLimits | undefined;
  /** A tenant's history export (`GET /admin/v1/tenants/{id}/events`); absent leaves the route out. */
  openTenantExport?: OpenTenantExport | undefined;
  /** CORS, SSE keep-alive and compression (README, "HTTP conventions"); default: CORS off, 15 s, 1 KiB. */
  http?: HttpConventions | undefined;
}

/**
 * The documented defaults of `BEAMLINE_CORS_ORIGINS`, `_SSE_KEEPALIVE_MS` and
 * `_COMPRESS_MIN_BYTES`, for gateways built without a configuration (tests, tools); written out
 * rather than read from src/config, which the gateway does not import.
 */
const DEFAULT_HTTP_CONVENTIONS: HttpConventions = {
  corsOrigins: [],
  sseKeepAliveMs: 15_000,
  compressMinBytes: 1_024,
};

/** The documented defaults of `BEAMLINE_AUTH_FAILURE_BURST` / `BEAMLINE_AUTH_FAILURE_REFILL_MS`. */
const DEFAULT_OPERATOR_AUTH: AuthFailureLimits = { failureBurst: 10, failureRefillMs: 6_000 };

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * The HTTP front doors: OpenAI- (`/v1/chat/completions`, `/v1/models`) and Anthropic-compatible
 * (`/v1/messages`) endpoints, the admin API (tenants and keys, policies and the catalog) behind
 * the admin token, and health. Authentication runs before the body is read, so a request with
 * a bad key costs no parsing and publishes nothing. Metrics are not served here: they have
 * their own listener (`buildMetricsListener`), loopback by default, so the public port never
 * shows tenant labels or process internals.
 */
export function buildGateway(deps: GatewayDeps): FastifyInstance {
  const app = Fastify({
    bodyLimit: deps.maxBodyBytes,
    logger: false,
    // Request ids are Beamline's own (x-request-id on every answer); a client's is never taken.
    genReqId: () => nextRequestId(deps),
    requestIdHeader: false,
    return503OnClosing: true,
    schemaController: zodOnlySchemas,
    // close() comes after the drain (GatewayDrain): whatever is still open then has outlived
    // the drain timeout and is cut, so a hung stream cannot hold the process.
    forceCloseConnections: true,
    // Malformed HTTP and oversized headers get Beamline's error body, not Node's bare line.
    clientErrorHandler: answerClientError,
    // Errors Fastify's router answers itself, before any hook: a URL that cannot be decoded.
    frameworkErrors: (error, request, reply) => {
      const beamlineError =
        error.code === "FST_ERR_BAD_URL"
          ? new BeamlineError("BL_MALFORMED_HTTP", "The request URL is not valid (a bad percent-encoding).")
          : fromHttpFrameworkError(error, deps.maxBodyBytes);
      // The option's reply type is generic over route schemas this handler does not use.
      setRequestIdHeaders(request, reply as unknown as FastifyReply);
      void (reply as unknown as FastifyReply)
        .code(beamlineError.httpStatus)
        .send(openAiErrorBody(beamlineError));
    },
  });
  app.server.on("connect", answerConnect);
  // Only JSON bodies are accepted: anything else is answered 415, not parsed as text.
  app.removeContentTypeParser("text/plain");
  registerJsonBodyParser(app);
  registerHttpConventions(app, deps.http ?? DEFAULT_HTTP_CONVENTIONS);

  app.setErrorHandler((error, _request, reply) => {
    const beamlineError = fromHttpFrameworkError(error, deps.maxBodyBytes);
    if (beamlineError.httpStatus >= 500) deps.log.error({ err: error }, "gateway error");
    if (beamlineError.retryAfterMs !== undefined) {
      reply.header("retry-after", String(Math.ceil(beamlineError.retryAfterMs / 1000)));
    }
    void reply.code(beamlineError.httpStatus).send(openAiErrorBody(beamlineError));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new BeamlineError(
      "BL_NOT_FOUND",
      `Unknown endpoint ${request.method} ${request.url.split("?")[0]}.`,
    );
    void reply.code(404).send(openAiErrorBody(error));
  });
  app.addHook("onResponse", async (request, reply) => {
    deps.metrics.httpRequests.inc({
      route: request.routeOptions.url ?? "unknown",
      status: String(reply.statusCode),
    });
  });

  deps.drain?.register(app);
  // One map per gateway: a retry with the same Idempotency-Key joins the answer in progress.
  const lifecycle = { ...deps, idempotentInFlight: new IdempotentInFlight<RequestOutcome>() };

  app.register(async (v1) => {
    registerAuthHooks(v1, deps);
    v1.post("/v1/chat/completions", async (request, reply) => {
      await handleChatCompletions(lifecycle, request.principal!, request, reply);
    });
    registerMessagesRoute(v1, lifecycle);
    registerEmbeddingsRoute(v1, lifecycle);
    registerResponsesRoute(v1, lifecycle);
    v1.get("/v1/models", async (request) => {
      const principal = request.principal!;
      const catalog = deps.catalog();
      return listModels(deps, principal.tenant, (model) => isModelAllowed(principal, model, catalog));
    });
    registerModelRoutes(v1, deps);
  });

  const admin = {
    adminToken: deps.adminToken,
    limiter: new AuthFailureLimiter(deps.operatorAuth ?? DEFAULT_OPERATOR_AUTH, () => deps.now().getTime()),
  };
  registerAdminRoutes(app, admin, tenancyAdminRoutes(deps.tenancyAdmin));
  if (deps.openTenantExport) {
    registerAdminRoutes(app, admin, tenantEventsRoutes(deps.openTenantExport));
  }
  registerAdminRoutes(app, admin, (scope) => registerPolicyAdminRoutes(scope, deps));
  registerAdminRoutes(app, admin, spendAdminRoutes(deps.store.nc, deps.tenancyAdmin));
  registerConsole(app, admin, deps);

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const ready = deps.drain?.draining !== true && (await deps.isReady());
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready" });
  });
  return app;
}
