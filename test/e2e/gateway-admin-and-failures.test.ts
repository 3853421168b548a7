import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Subscription } from "@nats-io/transport-node";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  makeEvent,
  SubjectRoots,
} from "../../src/events/index.js";
import { LiveChannel } from "../../src/nats/index.js";
import { type AcceptedEvent, notifyTerminal, type TerminalEvent } from "../../src/stages/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";

const ADMIN_TOKEN = "gateway-e2e-admin-token-0123456789";

/**
 * The gateway over a real NATS, with no request worker: the test plays the worker, so it can
 * end a request with whatever `request.failed` it wants (a quota refusal, an extension's
 * rejection) and check what the HTTP client sees on each front door. Also the policy and
 * catalog admin routes behind the admin token.
 */
describe("the gateway: failed requests' answers over NATS, and the policy admin API", {
  timeout: 60_000,
}, () => {
  let beamline: TestBeamline;
  let accepted: Subscription;
  /** What the fake worker answers the next accepted request with. */
  let nextFailure: Partial<EventData<"request.failed">> = {};

  before(async () => {
    beamline = await startTestBeamline({
      roles: ["gateway", "projector"],
      adminToken: ADMIN_TOKEN,
      // This suite refuses a dozen wrong tokens on purpose; the 429 that follows is tested elsewhere.
      operatorAuth: { failureBurst: 100 },
    });
    accepted = beamline.nc.subscribe(`${SubjectRoots.requests}.dev.*.accepted`, {
      callback: (error, msg) => {
        if (error) return;
        const event = decodeEvent(msg.data, msg.headers) as BeamlineEvent;
        if (event.type !== "request.accepted") return;
        const request = event as AcceptedEvent;
        const failed = makeEvent(
          "request.failed",
          `${request.requestId}:failed`,
          { tenant: request.tenant, requestId: request.requestId, correlationId: request.requestId },
          {
            stage: "admit",
            attempts: 0,
            error: { code: "BL_INTERNAL", message: "x", httpStatus: 500, type: "api_error" },
            ...nextFailure,
          },
          new Date(),
        );
        notifyTerminal(new LiveChannel(beamline.nc), request, failed as TerminalEvent);
      },
    });
    await beamline.nc.flush();
  });
  after(async () => {
    accepted?.unsubscribe();
    await beamline?.stop();
  });

  const send = (path: string, body: unknown) =>
    fetch(`${beamline.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const chatBody = { model: "mock-small", messages: [{ role: "user", content: "hi" }] };
  const messagesBody = { ...chatBody, max_tokens: 32 };

  it("answers a quota refusal with 429, retry-after and x-ratelimit-* headers on both front doors", async () => {
    nextFailure = {
      error: {
        code: "BL_QUOTA_EXCEEDED",
        message: "The tenant's requests per minute (1) would be passed; retry in 12 s.",
        httpStatus: 429,
        type: "rate_limit_error",
      },
      retryAfterMs: 11_200,
      responseHeaders: { "x-ratelimit-limit-requests": "1", "x-ratelimit-remaining-requests": "0" },
    };
    for (const [path, body] of [
      ["/v1/chat/completions", chatBody],
      ["/v1/messages", messagesBody],
      ["/v1/chat/completions", { ...chatBody, stream: true }],
    ] as const) {
      const response = await send(path, body);
      const text = await response.text();
      assert.equal(response.status, 429, `${path}: ${text}`);
      assert.equal(response.headers.get("retry-after"), "12", path);
      assert.equal(response.headers.get("x-ratelimit-limit-requests"), "1", path);
      assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "0", path);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, "BL_QUOTA_EXCEEDED");
    }
  });

  it("names the rejecting extension in the error body of both front doors", async () => {
    nextFailure = {
      error: {
        code: "BL_EXTENSION_REJECTED",
        message: "content-policy/1.0.0 (validate) rejected the request.",
        httpStatus: 400,
        type: "invalid_request_error",
      },
      extension: { name: "content-policy", version: "1.0.0", stage: "validate" },
    };
    for (const [path, body] of [
      ["/v1/chat/completions", chatBody],
      ["/v1/messages", messagesBody],
    ] as const) {
      const response = await send(path, body);
      assert.equal(response.status, 400);
      const { error } = (await response.json()) as {
        error: { code: string; extension: string; stage: string };
      };
      assert.deepEqual(
        { code: error.code, extension: error.extension, stage: error.stage },
        { code: "BL_EXTENSION_REJECTED", extension: "content-policy/1.0.0", stage: "validate" },
      );
    }
  });

  const admin = (method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN) =>
    fetch(`${beamline.baseUrl}/admin/v1${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("refuses the policy and catalog admin routes without the admin token, or with a tenant key", async () => {
    for (const token of [null, beamline.devKey, "not-the-admin-token-at-all"]) {
      for (const [method, path, body] of [
        ["GET", "/policies/dev", undefined],
        ["PUT", "/policies/dev", { routing: { strategy: { type: "cheapest" } } }],
        ["GET", "/policies/dev/history", undefined],
        ["GET", "/catalog", undefined],
      ] as const) {
        const answer = await admin(method, path, body, token);
        assert.equal(answer.status, 401, `${method} ${path}`);
        assert.equal(
          ((await answer.json()) as { error: { code: string } }).error.code,
          "BL_ADMIN_UNAUTHORIZED",
        );
      }
    }
    const unchanged = (await (await admin("GET", "/policies/dev")).json()) as { version: number };
    assert.equal(unchanged.version, 0, "a refused PUT published nothing");
  });

  it("reads, publishes and lists a tenant's policy, and reads the catalog, with the admin token", async () => {
    const initial = await admin("GET", "/policies/dev");
    assert.equal(initial.status, 200);
    assert.equal(((await initial.json()) as { version: number }).version, 0);

    const document = { routing: { aliases: { cheap: { models: ["mock-small"] } } } };
    const put = await admin("PUT", "/policies/dev", document);
    assert.equal(put.status, 200, await put.clone().text());
    assert.deepEqual(await put.json(), { tenant: "dev", version: 1 });

    const current = (await (await admin("GET", "/policies/dev")).json()) as {
      version: number;
      policy: { routing: { aliases: Record<string, unknown> } };
    };
    assert.equal(current.version, 1);
    assert.deepEqual(Object.keys(current.policy.routing.aliases), ["cheap"]);

    const history = (await (await admin("GET", "/policies/dev/history")).json()) as { versions: unknown[] };
    assert.equal(history.versions.length, 1);

    const invalid = await admin("PUT", "/policies/dev", { routing: { strategy: { type: "random" } } });
    assert.equal(invalid.status, 400);
    assert.equal(((await invalid.json()) as { error: { code: string } }).error.code, "BL_POLICY_INVALID");

    const catalog = await admin("GET", "/catalog");
    assert.equal(catalog.status, 200);
    assert.ok("revision" in ((await catalog.json()) as object));
  });
});
