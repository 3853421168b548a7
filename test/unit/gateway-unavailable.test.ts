import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ApiKeyRecord } from "../../projections/index.js";
import { parseCatalog } from "../../src/catalog/index.js";
import { BeamlineError } from "../../src/errors/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import { GatewayDrain } from "../../src/gateway/drain.js";
import { buildGateway, idempotentRequestId } from "../../src/gateway/index.js";
import type { Waiter, WaiterRegistry } from "../../src/gateway/waiters.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { staticKvView } from "../../src/nats/kv-view.js";
import { createLogger, createMetrics } from "../../src/observability/index.js";
import type { TerminalEvent } from "../../src/stages/index.js";
import { hashApiKey, type TenancyAdmin } from "../../src/tenancy/index.js";
import { FAST_AND_SMART_CATALOG } from "../support/test-catalog.js";

/**
 * The gateway's answers when NATS is away, and `Idempotency-Key` handling, in process over a
 * fake event store: which 503 says "not stored" and which "may have been stored", readiness,
 * and retries that join or wait for the original instead of writing a second request.
 */

const KEY = "bl-unavailable-test-key-000000000";
const NOW = new Date("2026-05-01T12:00:00Z");
type Accepted = BeamlineEvent<"request.accepted">;

interface Options {
  connected?: () => boolean;
  /** What an append does; default: stored, answered by the script. */
  append?: (event: Accepted) => Promise<{ duplicate: boolean; seq: number | undefined }>;
  /** What the slots hold, by subject suffix (`accepted`, `terminal`). */
  stored?: Partial<Record<"accepted" | "terminal", BeamlineEvent>>;
  drain?: GatewayDrain;
}

function completed(requestId: string): TerminalEvent {
  return makeEvent(
    "request.completed",
    `${requestId}:completed`,
    { tenant: "acme", requestId, correlationId: requestId },
    {
      provider: "mock",
      model: "mock-small",
      attempts: 1,
      completion: {
        id: `cmpl-${requestId}`,
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

function harness(options: Options = {}) {
  const waiting = new Map<string, Waiter>();
  const appended: Accepted[] = [];
  const waiters = {
    replySubject: (requestId: string) => `bl.live.test.${requestId}`,
    register(requestId: string, waiter: Waiter) {
      waiting.set(requestId, waiter);
      return () => waiting.delete(requestId);
    },
  } as unknown as WaiterRegistry;
  const store = {
    async append(_subject: string, event: Accepted) {
      appended.push(event);
      if (options.append) return options.append(event);
      // The "worker" answers on the next turn, over the live inbox.
      setTimeout(() => waiting.get(event.requestId)?.onTerminal(completed(event.requestId)), 20);
      return { duplicate: false, seq: appended.length };
    },
    readLast: async (_stream: string, subject: string) =>
      subject.endsWith(".accepted") ? options.stored?.accepted : options.stored?.terminal,
  } as unknown as EventStore;
  const app = buildGateway({
    store,
    waiters,
    keys: staticKvView({
      [hashApiKey(KEY)]: {
        keyId: "key_all",
        tenant: "acme",
        keyPrefix: "bl-unav",
        status: "active",
        lastSequence: 1,
      } as ApiKeyRecord,
    }),
    tenants: staticKvView({}),
    catalog: () => parseCatalog(FAST_AND_SMART_CATALOG),
    log: createLogger({ level: "silent" }),
    metrics: createMetrics({ defaultMetrics: false }),
    maxBodyBytes: 65_536,
    requestTimeoutMs: 5_000,
    now: () => NOW,
    isReady: async () => (options.connected ?? (() => true))(),
    connection: {
      get connected() {
        return (options.connected ?? (() => true))();
      },
    },
    appendTimeoutMs: 2_000,
    drain: options.drain,
    adminToken: undefined,
    tenancyAdmin: {} as TenancyAdmin,
  });
  return { app, appended };
}

const body = (content = "hi") => ({ model: "mock-small", messages: [{ role: "user", content }] });

function post(
  app: ReturnType<typeof harness>["app"],
  path: string,
  payload: unknown,
  idempotencyKey?: string,
) {
  return app.inject({
    method: "POST",
    url: path,
    headers: {
      authorization: `Bearer ${KEY}`,
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
    },
    payload: JSON.stringify(payload),
  });
}

describe("gateway: NATS unavailable", () => {
  it("answers 503 stored 'no' with retry-after and the request id, handing nothing to NATS, while the connection is down", async () => {
    const { app, appended } = harness({ connected: () => false });
    for (const [path, payload] of [
      ["/v1/chat/completions", body()],
      ["/v1/messages", { ...body(), max_tokens: 16 }],
    ] as const) {
      const response = await post(app, path, payload);
      // The Anthropic door says "overloaded" as Anthropic does: 529.
      assert.equal(response.statusCode, path === "/v1/messages" ? 529 : 503, path);
      assert.equal(response.headers["retry-after"], "1");
      const error = response.json().error;
      assert.equal(error.code, "BL_NATS_UNAVAILABLE");
      assert.equal(error.stored, "no");
      assert.equal(error.request_id, response.headers["x-request-id"]);
      assert.match(error.message, /was not stored/);
    }
    assert.equal(appended.length, 0, "nothing was handed to the client library");
    assert.equal((await app.inject({ url: "/readyz" })).statusCode, 503);
  });

  it("answers 503 stored 'maybe' when the write was sent but not confirmed in time", async () => {
    const { app } = harness({
      append: async () => {
        throw new BeamlineError("BL_NATS_UNAVAILABLE", "no publish ack in time");
      },
    });
    const response = await post(app, "/v1/chat/completions", body());
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers["retry-after"], "1");
    const error = response.json().error;
    assert.equal(error.stored, "maybe");
    assert.equal(error.request_id, response.headers["x-request-id"]);
    assert.match(error.message, /may have been stored.*Idempotency-Key/);
  });

  it("gives a draining gateway's 503 (529 on the Anthropic door) the request id header too, on both front doors", async () => {
    const drain = new GatewayDrain();
    const { app, appended } = harness({ drain });
    drain.begin();
    for (const [path, payload] of [
      ["/v1/chat/completions", body()],
      ["/v1/messages", { ...body(), max_tokens: 16 }],
    ] as const) {
      const response = await post(app, path, payload);
      // Anthropic's clients retry and fall back on 529 `overloaded_error`, where OpenAI's expect 503.
      assert.equal(response.statusCode, path === "/v1/messages" ? 529 : 503, path);
      assert.equal(response.json().error.code, "BL_DRAINING");
      assert.match(String(response.headers["x-request-id"]), /^req_[0-9A-Z]{26}$/, path);
      if (path === "/v1/messages")
        assert.equal(response.headers["request-id"], response.headers["x-request-id"]);
    }
    assert.equal(appended.length, 0);
  });

  it("is ready while the connection is up", async () => {
    const { app } = harness();
    assert.equal((await app.inject({ url: "/readyz" })).statusCode, 200);
  });
});

describe("gateway: Idempotency-Key", () => {
  it("uses the id derived from tenant and key, and joins a concurrent retry to the one write", async () => {
    const { app, appended } = harness();
    const [a, b] = await Promise.all([
      post(app, "/v1/chat/completions", body(), "k-1"),
      post(app, "/v1/chat/completions", body(), "k-1"),
    ]);
    assert.equal(a.statusCode, 200);
    assert.equal(b.statusCode, 200);
    assert.equal(appended.length, 1, "one accepted write for both");
    assert.equal(a.headers["x-request-id"], idempotentRequestId("acme", "k-1"));
    assert.equal(a.json().id, b.json().id);
  });

  it("refuses a concurrent request with the same key and another body with 422", async () => {
    const { app } = harness();
    const [first, other] = await Promise.all([
      post(app, "/v1/chat/completions", body("one"), "k-2"),
      post(app, "/v1/chat/completions", body("two"), "k-2"),
    ]);
    assert.equal(first.statusCode, 200);
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().error.code, "BL_IDEMPOTENCY_KEY_REUSED");
  });

  it("answers a retry whose slot is already written with the stored outcome, or 422 for another body", async () => {
    const requestId = idempotentRequestId("acme", "k-3");
    const original = makeEvent(
      "request.accepted",
      `${requestId}:accepted`,
      { tenant: "acme", requestId, correlationId: requestId },
      {
        request: body("original") as never,
        frontDoor: "openai",
        stream: false,
        apiKeyId: "key_all",
        replyTo: "bl.live.other",
      },
      NOW,
    );
    const { app } = harness({
      append: async () => ({ duplicate: true, seq: 1, stored: original }),
      stored: { accepted: original, terminal: completed(requestId) },
    });
    const retry = await post(app, "/v1/chat/completions", body("original"), "k-3");
    assert.equal(retry.statusCode, 200, retry.body);
    assert.equal(retry.json().id, `cmpl-${requestId}`);
    const other = await post(app, "/v1/chat/completions", body("changed"), "k-3");
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().error.code, "BL_IDEMPOTENCY_KEY_REUSED");
  });

  it("refuses a malformed key with 400 naming the header", async () => {
    const { app, appended } = harness();
    const response = await post(app, "/v1/chat/completions", body(), "has space");
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().error.param, "Idempotency-Key");
    assert.equal(appended.length, 0);
  });
});
