import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import type { ApiKeyRecord } from "../../projections/index.js";
import { type ModelCatalog, parseCatalog } from "../../src/catalog/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  encodeEvent,
  isEvent,
  makeEvent,
} from "../../src/events/index.js";
import { buildGateway } from "../../src/gateway/index.js";
import type { Waiter, WaiterRegistry } from "../../src/gateway/waiters.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { staticKvView } from "../../src/nats/kv-view.js";
import { createLogger, createMetrics } from "../../src/observability/index.js";
import type { PolicyView } from "../../src/policies/view.js";
import { parseCompletion } from "../../src/providers/openai/schemas.js";
import { defaultPolicy, policyDocumentSchema } from "../../src/routing/policy/document.js";
import type { TerminalEvent } from "../../src/stages/index.js";
import { hashApiKey, type TenancyAdmin } from "../../src/tenancy/index.js";
import { sseData } from "../support/sse.js";
import { FAST_AND_SMART_CATALOG } from "../support/test-catalog.js";

/**
 * Both HTTP front doors, in process: the real gateway (routes, hooks, the shared request
 * lifecycle, the SSE writers) over a fake event store and live inbox, driven by a scripted
 * "worker" that answers each accepted request with chunks and a terminal event.
 */

const KEY = "bl-front-door-test-key-0000000000";
const SCOPED_KEY = "bl-front-door-scoped-key-00000000";
const NOW = new Date("2026-05-01T12:00:00Z");

const catalogDocument = FAST_AND_SMART_CATALOG;
const catalogV1 = parseCatalog(catalogDocument);
const catalogV2 = parseCatalog({
  version: "t2",
  models: [
    ...catalogDocument.models,
    {
      id: "mock-new",
      provider: "mock",
      upstreamModel: "n",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
    },
  ],
});

/** acme's policy has two aliases; every other tenant runs on the built-in default. */
const policies: PolicyView = {
  policyFor: (tenant) =>
    tenant === "acme"
      ? {
          tenant,
          version: 3,
          document: policyDocumentSchema.parse({
            routing: {
              aliases: { cheap: { models: ["mock-small"] }, best: { strategy: { type: "quality" } } },
            },
          }),
        }
      : defaultPolicy(tenant),
  ready: Promise.resolve(),
  stop: () => undefined,
};

const view = staticKvView;

const keyRecord = (keyId: string, models?: string[]): ApiKeyRecord => ({
  keyId,
  tenant: "acme",
  keyPrefix: "bl-fron",
  status: "active",
  lastSequence: 1,
  ...(models ? { models } : {}),
});

type Accepted = BeamlineEvent<"request.accepted">;
/** What the fake worker does with an accepted request: send chunks, then a terminal event. */
type Script = (accepted: Accepted, waiter: Waiter) => void;

interface Harness {
  app: FastifyInstance;
  accepted: Accepted[];
  useCatalog(catalog: ModelCatalog): void;
}

function harness(script: Script, options: { policies?: PolicyView } = {}): Harness {
  let catalog = catalogV1;
  const waiting = new Map<string, Waiter>();
  const accepted: Accepted[] = [];
  const waiters = {
    replySubject: (requestId: string) => `bl.live.test.${requestId}`,
    register(requestId: string, waiter: Waiter) {
      waiting.set(requestId, waiter);
      return () => waiting.delete(requestId);
    },
  } as unknown as WaiterRegistry;
  const store = {
    async append(_subject: string, event: Accepted) {
      accepted.push(event);
      setImmediate(() => script(event, waiting.get(event.requestId)!));
      return { duplicate: false, seq: accepted.length };
    },
    readLast: async () => undefined,
  } as unknown as EventStore;
  const app = buildGateway({
    store,
    waiters,
    keys: view({
      [hashApiKey(KEY)]: keyRecord("key_all"),
      [hashApiKey(SCOPED_KEY)]: keyRecord("key_scoped", ["fast", "cheap"]),
    }),
    tenants: view({}),
    catalog: () => catalog,
    ...(options.policies ? { policies: options.policies } : {}),
    log: createLogger({ level: "silent" }),
    metrics: createMetrics({ defaultMetrics: false }),
    maxBodyBytes: 65_536,
    requestTimeoutMs: 5_000,
    now: () => NOW,
    isReady: async () => true,
    adminToken: undefined,
    tenancyAdmin: {} as TenancyAdmin,
  });
  return { app, accepted, useCatalog: (next) => (catalog = next) };
}

function failed(accepted: Accepted, data: Partial<EventData<"request.failed">>): TerminalEvent {
  return makeEvent(
    "request.failed",
    `${accepted.requestId}:failed`,
    { tenant: accepted.tenant, requestId: accepted.requestId, correlationId: accepted.requestId },
    {
      stage: "admit",
      attempts: 0,
      error: { code: "BL_INTERNAL", message: "x", httpStatus: 500, type: "api_error" },
      ...data,
    },
    NOW,
  ) as TerminalEvent;
}

function completed(accepted: Accepted): TerminalEvent {
  return makeEvent(
    "request.completed",
    `${accepted.requestId}:completed`,
    { tenant: accepted.tenant, requestId: accepted.requestId, correlationId: accepted.requestId },
    {
      provider: "mock",
      model: "mock-small",
      attempts: 1,
      completion: {
        id: accepted.requestId,
        object: "chat.completion",
        created: 1,
        model: "mock-small",
        choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
      },
      usage: { promptTokens: 3, completionTokens: 2, cachedTokens: 0 },
    },
    NOW,
  ) as TerminalEvent;
}

const chunkBytes = (accepted: Accepted, content: string) =>
  Buffer.from(
    JSON.stringify({
      id: accepted.requestId,
      object: "chat.completion.chunk",
      created: 1,
      model: "mock-small",
      choices: [{ index: 0, delta: { role: "assistant", content }, finish_reason: null }],
    }),
  );

/** A quota refusal as the admission step records it. */
const quotaRefusal: Partial<EventData<"request.failed">> = {
  stage: "admit",
  error: {
    code: "BL_QUOTA_EXCEEDED",
    message: "The tenant's requests per minute (2) would be passed; retry in 2 s.",
    httpStatus: 429,
    type: "rate_limit_error",
  },
  retryAfterMs: 1_500,
  responseHeaders: {
    "retry-after-ms": "1500",
    "x-ratelimit-limit-requests": "2",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "2s",
  },
};

const extensionRejection: Partial<EventData<"request.failed">> = {
  stage: "admit",
  error: {
    code: "BL_EXTENSION_REJECTED",
    message: "content-policy/1.0.0 (validate) rejected the request: blocked term.",
    httpStatus: 400,
    type: "invalid_request_error",
  },
  extension: { name: "content-policy", version: "1.0.0", stage: "validate" },
};

const doors = {
  openai: (body: Record<string, unknown>) => ({
    url: "/v1/chat/completions",
    payload: { messages: [{ role: "user", content: "hi" }], ...body },
  }),
  anthropic: (body: Record<string, unknown>) => ({
    url: "/v1/messages",
    payload: { max_tokens: 16, messages: [{ role: "user", content: "hi" }], ...body },
  }),
} as const;

async function post(
  app: FastifyInstance,
  door: keyof typeof doors,
  body: Record<string, unknown>,
  key = KEY,
) {
  const { url, payload } = doors[door](body);
  return app.inject({ method: "POST", url, headers: { authorization: `Bearer ${key}` }, payload });
}

describe("a failed request's HTTP answer, on both front doors", () => {
  for (const door of ["openai", "anthropic"] as const) {
    it(`${door}: a quota refusal is a 429 with the recorded rate-limit headers and retry-after in whole seconds`, async () => {
      const { app } = harness((accepted, waiter) => waiter.onTerminal(failed(accepted, quotaRefusal)));
      const answer = await post(app, door, { model: "mock-small" });
      assert.equal(answer.statusCode, 429);
      assert.equal(answer.headers["retry-after"], "2");
      assert.equal(answer.headers["retry-after-ms"], "1500");
      assert.equal(answer.headers["x-ratelimit-limit-requests"], "2");
      assert.equal(answer.headers["x-ratelimit-remaining-requests"], "0");
      assert.equal(answer.headers["x-ratelimit-reset-requests"], "2s");
      assert.match(String(answer.headers["x-request-id"]), /\S/);
      const body = answer.json();
      if (door === "openai") {
        assert.deepEqual(body, {
          error: {
            message: quotaRefusal.error!.message,
            type: "rate_limit_error",
            param: null,
            code: "BL_QUOTA_EXCEEDED",
          },
        });
      } else {
        assert.deepEqual(body, {
          type: "error",
          error: {
            type: "rate_limit_error",
            message: quotaRefusal.error!.message,
            code: "BL_QUOTA_EXCEEDED",
          },
          request_id: answer.headers["x-request-id"],
        });
      }
    });

    it(`${door}: an extension's rejection names the extension (name/version) and its stage in the error body`, async () => {
      const { app } = harness((accepted, waiter) => waiter.onTerminal(failed(accepted, extensionRejection)));
      const answer = await post(app, door, { model: "mock-small" });
      assert.equal(answer.statusCode, 400);
      assert.equal(answer.headers["retry-after"], undefined);
      const { error } = answer.json() as { error: Record<string, unknown> };
      assert.equal(error["code"], "BL_EXTENSION_REJECTED");
      assert.equal(error["extension"], "content-policy/1.0.0");
      assert.equal(error["stage"], "validate");
    });

    it(`${door}: a streamed request that fails before any output still gets the plain 429 with its headers`, async () => {
      const { app } = harness((accepted, waiter) => waiter.onTerminal(failed(accepted, quotaRefusal)));
      const answer = await post(app, door, { model: "mock-small", stream: true });
      assert.equal(answer.statusCode, 429);
      assert.equal(answer.headers["retry-after"], "2");
      assert.equal(answer.headers["x-ratelimit-remaining-requests"], "0");
      assert.equal((answer.json() as { error: { code: string } }).error.code, "BL_QUOTA_EXCEEDED");
    });

    it(`${door}: a stream already started ends with an error event carrying the same code, never a clean end`, async () => {
      const { app } = harness((accepted, waiter) => {
        waiter.onChunk?.(chunkBytes(accepted, "partial"), "1.1");
        waiter.onTerminal(
          failed(accepted, {
            stage: "execute",
            attempts: 1,
            error: {
              code: "BL_PROVIDER_RATE_LIMITED",
              message: "The provider rate-limited the request.",
              httpStatus: 429,
              type: "rate_limit_error",
            },
            retryAfterMs: 4_000,
            extension: { name: "pii", version: "2.0.0", stage: "post" },
          }),
        );
      });
      const answer = await post(app, door, { model: "mock-small", stream: true });
      assert.equal(answer.statusCode, 200, "the status went out with the first chunk");
      assert.equal(answer.headers["retry-after"], undefined);
      const events = sseData(answer.body);
      assert.ok(!events.includes("[DONE]"));
      const last = events.at(-1) as { error: { code: string; extension?: string; stage?: string } };
      assert.equal(last.error.code, "BL_PROVIDER_RATE_LIMITED");
      assert.equal(last.error.extension, "pii/2.0.0");
      assert.equal(last.error.stage, "post");
      if (door === "anthropic") {
        assert.match(answer.body, /event: error\n/);
        assert.doesNotMatch(answer.body, /message_stop/);
      }
    });

    it(`${door}: a completed stream whose live chunks may be lost ends as interrupted, never as a success`, async () => {
      const { app } = harness((accepted, waiter) => {
        waiter.onChunk?.(chunkBytes(accepted, "partial"), "1.1");
        waiter.onTerminal(completed(accepted), { source: "log", streamGap: true });
      });
      const answer = await post(app, door, { model: "mock-small", stream: true });
      assert.equal(answer.statusCode, 200, "the status went out with the first chunk");
      const events = sseData(answer.body);
      assert.ok(!events.includes("[DONE]"));
      assert.doesNotMatch(answer.body, /message_stop/);
      assert.match(answer.body, /BL_STREAM_INTERRUPTED|lost in a NATS reconnect/);
      assert.match(
        answer.body,
        new RegExp(String(answer.headers[door === "openai" ? "x-request-id" : "request-id"])),
      );
    });
  }
});

describe("POST /v1/chat/completions on the shared request lifecycle", () => {
  it("answers a completed request with OpenAI's body and usage, recording request.accepted from the openai door", async () => {
    const { app, accepted } = harness((event, waiter) => waiter.onTerminal(completed(event)));
    const answer = await post(app, "openai", { model: "mock-small" });
    assert.equal(answer.statusCode, 200);
    const body = answer.json() as { choices: Array<{ message: { content: string } }>; usage: unknown };
    assert.equal(body.choices[0]?.message.content, "hello");
    assert.deepEqual(body.usage, {
      prompt_tokens: 3,
      completion_tokens: 2,
      total_tokens: 5,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.data.frontDoor, "openai");
    assert.equal(accepted[0]!.data.replyTo, `bl.live.test.${accepted[0]!.requestId}`);
    assert.equal(answer.headers["x-request-id"], accepted[0]!.requestId);
  });

  it("answers a provider's completion as the attempt stored it: every field the provider sent, Beamline's usage", async () => {
    // The provider's body, checked by the OpenAI adapter's schema, stored in an attempt event
    // and read back (encode, decode), then carried by request.completed to the gateway.
    const providerBody = {
      id: "chatcmpl-9",
      object: "chat.completion",
      created: 1_767_000_000,
      model: "gpt-x",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "hello", refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: null },
      service_tier: "default",
      system_fingerprint: "fp_9",
    };
    const parsed = parseCompletion(structuredClone(providerBody));
    assert.ok(parsed.ok);
    const attempt = makeEvent(
      "attempt.succeeded",
      "r:attempt.1",
      { tenant: "acme", requestId: "r", correlationId: "r" },
      {
        attempt: 1,
        provider: "openai",
        model: "mock-small",
        upstreamModel: "gpt-x",
        startedAt: NOW.toISOString(),
        durationMs: 5,
        streamed: false,
        timeToFirstTokenMs: 5,
        usage: { promptTokens: 3, completionTokens: 2, cachedTokens: 1 },
        completion: parsed.value,
      },
      NOW,
    );
    const encoded = encodeEvent(attempt);
    const stored = decodeEvent(encoded.payload, { get: (name) => encoded.headers[name] ?? "" });
    assert.ok(isEvent(stored, "attempt.succeeded"));
    const { app } = harness((event, waiter) =>
      waiter.onTerminal(
        makeEvent(
          "request.completed",
          `${event.requestId}:completed`,
          { tenant: event.tenant, requestId: event.requestId, correlationId: event.requestId },
          {
            provider: "openai",
            model: "mock-small",
            attempts: 1,
            completion: stored.data.completion,
            usage: stored.data.usage,
          },
          NOW,
        ) as TerminalEvent,
      ),
    );
    const answer = await post(app, "openai", { model: "mock-small" });
    assert.equal(answer.statusCode, 200);
    assert.deepEqual(answer.json(), {
      ...providerBody,
      usage: {
        prompt_tokens: 3,
        completion_tokens: 2,
        total_tokens: 5,
        prompt_tokens_details: { cached_tokens: 1 },
      },
    });
  });

  it("streams live chunks, then the usage chunk only when include_usage asks for it, then [DONE]", async () => {
    const { app } = harness((event, waiter) => {
      waiter.onChunk?.(chunkBytes(event, "hel"), "1.1");
      waiter.onChunk?.(chunkBytes(event, "lo"), "1.1");
      waiter.onTerminal(completed(event));
    });
    for (const includeUsage of [true, false]) {
      const answer = await post(app, "openai", {
        model: "mock-small",
        stream: true,
        stream_options: { include_usage: includeUsage },
      });
      const events = sseData(answer.body) as Array<{
        choices?: Array<{ delta: { content?: string } }>;
        usage?: unknown;
      }>;
      assert.equal(events.at(-1), "[DONE]");
      const content = events
        .slice(0, -1)
        .map((event) => event.choices?.[0]?.delta.content ?? "")
        .join("");
      assert.equal(content, "hello");
      const usage = events.slice(0, -1).filter((event) => event.usage !== undefined);
      assert.equal(usage.length, includeUsage ? 1 : 0);
    }
  });
});

describe("the model check follows the live catalog and the tenant's policy", () => {
  const answerCompleted: Script = (event, waiter) => waiter.onTerminal(completed(event));

  for (const door of ["openai", "anthropic"] as const) {
    it(`${door}: accepts catalog ids and aliases, auto and the tenant's own aliases; refuses the rest with 404 before publishing`, async () => {
      const { app, accepted } = harness(answerCompleted, { policies });
      for (const model of ["mock-small", "smart", "auto", "cheap", "best"]) {
        const answer = await post(app, door, { model });
        assert.equal(answer.statusCode, 200, `${model}: ${answer.body}`);
      }
      assert.deepEqual(
        accepted.map((event) => event.data.request?.model),
        ["mock-small", "smart", "auto", "cheap", "best"],
      );
      const unknown = await post(app, door, { model: "gpt-9" });
      assert.equal(unknown.statusCode, 404);
      assert.equal((unknown.json() as { error: { code: string } }).error.code, "BL_UNKNOWN_MODEL");
      assert.equal(accepted.length, 5, "a refused model publishes nothing");
    });
  }

  it("does not know tenant aliases without the policy view, nor another tenant's aliases", async () => {
    const { app } = harness(answerCompleted);
    assert.equal((await post(app, "openai", { model: "cheap" })).statusCode, 404);
    assert.equal((await post(app, "openai", { model: "auto" })).statusCode, 200);
  });

  it("reads the catalog per request: a model published later is served without a restart", async () => {
    const { app, useCatalog } = harness(answerCompleted);
    assert.equal((await post(app, "openai", { model: "mock-new" })).statusCode, 404);
    useCatalog(catalogV2);
    assert.equal((await post(app, "openai", { model: "mock-new" })).statusCode, 200);
  });

  it("keeps the key's model scope: a tenant alias in the scope passes, a model outside it is a 403", async () => {
    const { app } = harness(answerCompleted, { policies });
    assert.equal((await post(app, "openai", { model: "cheap" }, SCOPED_KEY)).statusCode, 200);
    assert.equal((await post(app, "anthropic", { model: "mock-small" }, SCOPED_KEY)).statusCode, 200);
    const refused = await post(app, "openai", { model: "smart" }, SCOPED_KEY);
    assert.equal(refused.statusCode, 403);
    assert.equal((refused.json() as { error: { code: string } }).error.code, "BL_MODEL_NOT_ALLOWED");
  });

  it("GET /v1/models lists the live catalog, then the tenant's aliases and auto, marked, in OpenAI's list shape", async () => {
    const { app, useCatalog } = harness(answerCompleted, { policies });
    const list = async () =>
      (
        await app.inject({ method: "GET", url: "/v1/models", headers: { authorization: `Bearer ${KEY}` } })
      ).json() as { object: string; data: Array<Record<string, unknown>> };
    const first = await list();
    assert.equal(first.object, "list");
    assert.deepEqual(first.data, [
      { id: "mock-small", object: "model", created: 0, owned_by: "mock" },
      { id: "mock-large", object: "model", created: 0, owned_by: "mock" },
      { id: "cheap", object: "model", created: 0, owned_by: "beamline", beamline_resolution: "tenant-alias" },
      { id: "best", object: "model", created: 0, owned_by: "beamline", beamline_resolution: "tenant-alias" },
      { id: "auto", object: "model", created: 0, owned_by: "beamline", beamline_resolution: "auto" },
    ]);
    useCatalog(catalogV2);
    assert.ok((await list()).data.some((model) => model.id === "mock-new"));
    const anonymous = await app.inject({ method: "GET", url: "/v1/models" });
    assert.equal(anonymous.statusCode, 401);
  });

  it("GET /v1/models lists only what a scoped key may use", async () => {
    const { app } = harness(answerCompleted, { policies });
    const scoped = (
      await app.inject({
        method: "GET",
        url: "/v1/models",
        headers: { authorization: `Bearer ${SCOPED_KEY}` },
      })
    ).json() as { data: Array<{ id: string }> };
    // The key is scoped to `fast` (a catalog alias of mock-small) and the tenant alias `cheap`.
    assert.deepEqual(
      scoped.data.map((model) => model.id),
      ["mock-small", "cheap"],
    );
  });
});
