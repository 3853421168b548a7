import fastifyCors, { type FastifyCorsOptions } from "@fastify/cors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { registerCompression } from "./compression.js";

/**
 * The HTTP conventions every front door follows, as root hooks and plugins so that a route
 * added later (another dialect, another endpoint) follows them without doing anything:
 * a request id on every answer, CORS for the tenant API, compression of JSON answers and the
 * SSE keep-alive interval the stream writers read. See README, "HTTP conventions".
 */
export interface HttpConventions {
  /** Browser origins allowed on `/v1/…`; `*` allows any; empty: CORS off. */
  corsOrigins: readonly string[];
  /** A streamed answer silent this long gets a `: keep-alive` comment. */
  sseKeepAliveMs: number;
  /** JSON answers from this size on are compressed when the client accepts it. */
  compressMinBytes: number;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The SSE keep-alive interval in ms (see `SseResponse`); undefined: no keep-alive. */
    sseKeepAliveMs?: number;
  }
}

/** Request headers a browser client may send: what the OpenAI and Anthropic SDKs send. */
const ALLOWED_HEADERS = [
  "authorization",
  "x-api-key",
  "content-type",
  "anthropic-version",
  "anthropic-beta",
  "anthropic-dangerous-direct-browser-access",
  "openai-beta",
  "openai-organization",
  "openai-project",
  "idempotency-key",
  "x-request-id",
  "traceparent",
];

/** The SDKs add `x-stainless-*` headers (language, runtime, retry count…) whose set changes by version. */
const STAINLESS_HEADER = /^x-stainless-[a-z0-9-]+$/;

/**
 * Response headers a browser script may read. CORS has no prefix wildcard, so the families
 * are listed by name; `x-beamline-*` headers are added per answer by {@link exposeBeamlineHeaders}.
 */
const EXPOSED_HEADERS = [
  "x-request-id",
  "request-id",
  "x-client-request-id",
  "retry-after",
  "retry-after-ms",
  ...["requests", "tokens"].flatMap((dimension) =>
    ["limit", "remaining", "reset"].map((part) => `x-ratelimit-${part}-${dimension}`),
  ),
  ...["requests", "tokens", "input-tokens", "output-tokens"].flatMap((dimension) =>
    ["limit", "remaining", "reset"].map((part) => `anthropic-ratelimit-${dimension}-${part}`),
  ),
];

/** The client's own id, echoed as `x-client-request-id` when it is a plain token of sane length. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Whether `path` belongs to the tenant API, the only surface CORS opens to browsers. */
function isTenantApi(url: string): boolean {
  return url === "/v1" || url.startsWith("/v1/") || url.startsWith("/v1?");
}

/** Whether `path` is Anthropic's door, whose SDK reads the id from `request-id`. */
export function isAnthropicPath(url: string): boolean {
  const path = url.split("?")[0] ?? "";
  return path === "/v1/messages" || path.startsWith("/v1/messages/");
}

/**
 * Sets `x-request-id` (and `request-id` on Anthropic's door) to Beamline's own id of the
 * request, the one its events carry when it is accepted. A front door that derives another id
 * (an `Idempotency-Key`) overwrites it before answering, so the header always names the
 * events. Called first thing, so even answers no route handles (404, 401, 503 draining,
 * 400 body errors) carry it.
 */
export function setRequestIdHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("x-request-id", request.id);
  if (isAnthropicPath(request.url)) reply.header("request-id", request.id);
  // A client's own id is never trusted as an event id (it could collide with, or name,
  // another request); it is only echoed back for the client's logs.
  const clientId = request.headers["x-request-id"];
  if (typeof clientId === "string" && CLIENT_REQUEST_ID.test(clientId)) {
    reply.header("x-client-request-id", clientId);
  }
}

function corsOptionsFor(request: FastifyRequest, origins: readonly string[]): FastifyCorsOptions {
  if (!isTenantApi(request.url)) return { origin: false };
  const requested = request.headers["access-control-request-headers"];
  const stainless =
    typeof requested === "string"
      ? requested
          .split(",")
          .map((name) => name.trim().toLowerCase())
          .filter((name) => STAINLESS_HEADER.test(name))
      : [];
  return {
    origin: origins.includes("*") ? "*" : [...origins],
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: [...ALLOWED_HEADERS, ...stainless],
    exposedHeaders: EXPOSED_HEADERS,
    // Browsers cache a preflight this long (10 min: Chromium's cap is 2 h, Firefox's 24 h).
    maxAge: 600,
  };
}

/** Adds the answer's `x-beamline-*` headers to what a CORS-allowed browser script may read. */
function exposeBeamlineHeaders(reply: FastifyReply): void {
  const exposed = reply.getHeader("access-control-expose-headers");
  if (typeof exposed !== "string") return;
  const beamline = Object.keys(reply.getHeaders()).filter((name) => name.startsWith("x-beamline-"));
  if (beamline.length > 0)
    reply.header("access-control-expose-headers", `${exposed}, ${beamline.join(", ")}`);
}

/**
 * Registers the conventions on the gateway's root instance; call it before any route is
 * added, and before the drain hook, so every answer carries the request id.
 */
export function registerHttpConventions(app: FastifyInstance, conventions: HttpConventions): void {
  app.addHook("onRequest", async (request, reply) => {
    setRequestIdHeaders(request, reply);
  });
  app.decorate("sseKeepAliveMs", conventions.sseKeepAliveMs);
  if (conventions.corsOrigins.length > 0) {
    const origins = conventions.corsOrigins;
    app.register(fastifyCors, {
      delegator: (request, callback) => callback(null, corsOptionsFor(request, origins)),
    });
    app.addHook("onSend", async (_request, reply, payload) => {
      exposeBeamlineHeaders(reply);
      return payload;
    });
  }
  // Request bodies stay plain JSON (a 415 otherwise): only answers are compressed.
  registerCompression(app, { minBytes: conventions.compressMinBytes });
}
