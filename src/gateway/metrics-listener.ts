import Fastify, { type FastifyInstance } from "fastify";
import { BeamlineError } from "../errors/index.js";
import type { BeamlineMetrics } from "../observability/index.js";
import { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
import { AuthFailureLimiter, type AuthFailureLimits, checkOperatorToken } from "./operator-auth.js";
import { zodOnlySchemas } from "./zod-only-schemas.js";

export interface MetricsListenerDeps {
  metrics: BeamlineMetrics;
  /** `BEAMLINE_METRICS_TOKEN`: when set, `/metrics` needs it as a bearer token. */
  token: string | undefined;
  /** Failed token checks allowed per client address. */
  operatorAuth: AuthFailureLimits;
  /** Readiness: false while NATS is unreachable. */
  /** Whether NATS answers now (a bounded round trip): what `/readyz` reports. */
  isReady: () => Promise<boolean>;
  now: () => number;
}

/**
 * The operator's listener, apart from the public API port: Prometheus `/metrics`, and
 * `/healthz` / `/readyz` so a process without the gateway role can be probed too. Every
 * process serves it, on loopback unless configured otherwise. Health answers need no token
 * (they say nothing but up/ready); metrics do when one is set, with failed attempts limited
 * per address like the admin API's.
 */
export function buildMetricsListener(deps: MetricsListenerDeps): FastifyInstance {
  const app = Fastify({ logger: false, return503OnClosing: true, schemaController: zodOnlySchemas });
  const limiter = new AuthFailureLimiter(deps.operatorAuth, deps.now);
  const { token } = deps;

  app.setErrorHandler((error, _request, reply) => {
    const beamlineError = fromHttpFrameworkError(error, 0);
    if (beamlineError.retryAfterMs !== undefined) {
      reply.header("retry-after", String(Math.ceil(beamlineError.retryAfterMs / 1000)));
    }
    void reply.code(beamlineError.httpStatus).send(openAiErrorBody(beamlineError));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new BeamlineError(
      "BL_NOT_FOUND",
      `Unknown endpoint ${request.method} ${request.url.split("?")[0]}; this listener serves /metrics, /healthz and /readyz.`,
    );
    void reply.code(404).send(openAiErrorBody(error));
  });

  app.get("/metrics", async (request, reply) => {
    if (token !== undefined) {
      checkOperatorToken(request, { token, limiter, unauthorized: metricsUnauthorized });
    }
    return reply
      .header("content-type", deps.metrics.registry.contentType)
      .send(await deps.metrics.registry.metrics());
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const ready = await deps.isReady();
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready" });
  });
  return app;
}

function metricsUnauthorized(): BeamlineError {
  return new BeamlineError(
    "BL_METRICS_UNAUTHORIZED",
    "The metrics listener needs `Authorization: Bearer <BEAMLINE_METRICS_TOKEN>`.",
  );
}
