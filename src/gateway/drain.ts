import type { FastifyInstance } from "fastify";
import { BeamlineError } from "../errors/index.js";
import { openAiErrorBody } from "./error-body.js";
import { anthropicErrorBody, anthropicHttpStatus, ERROR_CODE_HEADER } from "./messages-response.js";

/** Paths a draining gateway still answers: probes and metrics must see the drain. */
const ALWAYS_ANSWERED = new Set(["/healthz", "/readyz", "/metrics"]);
/** What a refused client is told to wait, in seconds: another instance is ready by then. */
const DRAIN_RETRY_AFTER_S = 1;

/**
 * A gateway's graceful stop. Once `begin()` is called, `/readyz` answers 503 (the load
 * balancer takes the instance out), every new request gets 503 `BL_DRAINING` with
 * `retry-after` and `connection: close`, and `idle()` resolves when the requests already
 * running — plain or streamed — have been answered. The listener stays open meanwhile, so
 * a client that still reaches this instance hears "retry" rather than "connection refused".
 */
export class GatewayDrain {
  private active = 0;
  private started = false;
  private readonly idleWaiters = new Set<() => void>();

  get draining(): boolean {
    return this.started;
  }

  /** Requests being answered now (probes and metrics not counted). */
  get inFlight(): number {
    return this.active;
  }

  begin(): void {
    this.started = true;
    if (this.active === 0) this.wake();
  }

  /** Resolves once no counted request is running (at once when none is). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /** Counts every request until its response closes, and refuses new ones while draining. */
  register(app: FastifyInstance): void {
    app.addHook("onRequest", async (request, reply) => {
      const path = request.url.split("?")[0] ?? "";
      if (ALWAYS_ANSWERED.has(path)) return;
      if (this.started) {
        const error = new BeamlineError(
          "BL_DRAINING",
          `This Beamline instance is shutting down and accepts no new requests; retry in ${DRAIN_RETRY_AFTER_S} s (another instance will answer).`,
          { retryAfterMs: DRAIN_RETRY_AFTER_S * 1000 },
        );
        // The Anthropic door's routes answer in Anthropic's shape and status (529 overloaded).
        const anthropic = path === "/v1/messages" || path.startsWith("/v1/messages/");
        const body = anthropic ? anthropicErrorBody(error) : openAiErrorBody(error);
        if (anthropic) reply.header(ERROR_CODE_HEADER, error.code);
        return reply
          .code(anthropic ? anthropicHttpStatus(503) : 503)
          .header("retry-after", String(DRAIN_RETRY_AFTER_S))
          .header("connection", "close")
          .send(body);
      }
      this.active++;
      // "close" fires once the response is finished or the client went away, also for a
      // hijacked SSE stream that Fastify's own hooks no longer see.
      reply.raw.once("close", () => {
        this.active--;
        if (this.active === 0) this.wake();
      });
    });
  }

  private wake(): void {
    for (const resolve of this.idleWaiters) resolve();
    this.idleWaiters.clear();
  }
}
