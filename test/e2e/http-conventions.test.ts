import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { RequestSlots, requestSubject } from "../../src/events/index.js";
import { StreamNames } from "../../src/nats/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { signedStore } from "../support/signing.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";
import { waitFor } from "../support/wait.js";

/**
 * The HTTP conventions every front door follows (issue 15, item 5), over real HTTP and the
 * official SDKs: CORS, the request id on every answer, rate-limit headers, retry-after on
 * circuit-open and quota answers, SSE keep-alive, compression, and `n > 1`.
 */

const ALLOWED_ORIGIN = "https://app.example.com";
const REQUEST_ID = /^req_[0-9A-Z]{26}$/;
const messages = [{ role: "user" as const, content: "Say hello to the conventions test" }];
const chatBody = JSON.stringify({ model: "mock-small", messages });

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP exchange with node:http, which (unlike fetch) leaves a compressed body as it came. */
function raw(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
) {
  return new Promise<RawAnswer>((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method ?? "GET", headers: init.headers }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () =>
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks) }),
      );
      incoming.on("error", reject);
    });
    outgoing.on("error", reject);
    outgoing.end(init.body);
  });
}

const json = (answer: RawAnswer) => JSON.parse(answer.body.toString("utf8")) as Record<string, unknown>;

describe("HTTP conventions on every front door", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  let cappedKey: string;
  let streamerKey: string;
  const auth = () => ({ authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" });

  before(async () => {
    beamline = await startTestBeamline({
      http: { corsOrigins: [ALLOWED_ORIGIN], compressMinBytes: 128 },
    });
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    await admin.createTenant({ id: "capped", name: "Capped" });
    cappedKey = (await admin.issueKey("capped", { label: "conventions" })).key;
    await publishPolicy(
      store,
      "capped",
      { limits: { requestsPerMinute: 4, tokensPerMinute: 1_000_000 } },
      new Date(),
    );
    // Limits of its own, so the streamed requests do not spend the capped tenant's minute.
    await admin.createTenant({ id: "streamer", name: "Streamer" });
    streamerKey = (await admin.issueKey("streamer", { label: "conventions" })).key;
    await publishPolicy(
      store,
      "streamer",
      { limits: { requestsPerMinute: 20, tokensPerMinute: 1_000_000 } },
      new Date(),
    );
  });
  after(() => beamline?.stop());

  describe("CORS", () => {
    it("answers a preflight from an allowed origin with the SDKs' headers allowed", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "OPTIONS",
        headers: {
          origin: ALLOWED_ORIGIN,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, x-stainless-os, idempotency-key",
        },
      });
      assert.equal(answer.status, 204);
      assert.equal(answer.headers["access-control-allow-origin"], ALLOWED_ORIGIN);
      assert.match(String(answer.headers["access-control-allow-methods"]), /POST/);
      const allowed = String(answer.headers["access-control-allow-headers"]).split(", ");
      for (const name of [
        "authorization",
        "x-api-key",
        "anthropic-version",
        "idempotency-key",
        "x-stainless-os",
      ]) {
        assert.ok(allowed.includes(name), `${name} in ${allowed.join(", ")}`);
      }
    });

    it("gives a preflight from another origin no allow-origin, so the browser refuses", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/messages`, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example.net", "access-control-request-method": "POST" },
      });
      assert.equal(answer.headers["access-control-allow-origin"], undefined);
    });

    it("never opens the admin API to browsers, even for an allowed origin", async () => {
      const answer = await raw(`${beamline.baseUrl}/admin/v1/tenants`, {
        method: "OPTIONS",
        headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "GET" },
      });
      assert.equal(answer.headers["access-control-allow-origin"], undefined);
      assert.notEqual(answer.status, 204);
    });

    it("lets an allowed page read the request id of an answer, streamed or not", async () => {
      for (const stream of [false, true]) {
        const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { ...auth(), origin: ALLOWED_ORIGIN },
          body: JSON.stringify({ model: "mock-small", messages, stream }),
        });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers["access-control-allow-origin"], ALLOWED_ORIGIN);
        const exposed = String(answer.headers["access-control-expose-headers"]).split(", ");
        for (const name of ["x-request-id", "retry-after", "x-ratelimit-remaining-requests"]) {
          assert.ok(exposed.includes(name), `${name} exposed (stream: ${stream})`);
        }
        assert.match(String(answer.headers["x-request-id"]), REQUEST_ID);
      }
    });
  });

  describe("x-request-id", () => {
    it("is on answers no handler gave: 404, 401, 400 for a body that is not JSON", async () => {
      const answers = [
        await raw(`${beamline.baseUrl}/v1/nothing-here`, { headers: auth() }),
        await raw(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chatBody,
        }),
        await raw(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: auth(),
          body: "{not json",
        }),
      ];
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [404, 401, 400],
      );
      const ids = answers.map((answer) => String(answer.headers["x-request-id"]));
      for (const id of ids) assert.match(id, REQUEST_ID);
      assert.equal(new Set(ids).size, 3, "one id per answer");
    });

    it("is on the Anthropic door's refusals as request-id too", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "mock-small", max_tokens: 16, messages }),
      });
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers["request-id"]), REQUEST_ID);
      assert.equal(answer.headers["request-id"], answer.headers["x-request-id"]);
    });

    it("names the accepted request's events, read by the OpenAI SDK with withResponse()", async () => {
      const client = new OpenAI({
        apiKey: beamline.devKey,
        baseURL: `${beamline.baseUrl}/v1`,
        maxRetries: 0,
      });
      const { data, response } = await client.chat.completions
        .create({ model: "mock-small", messages })
        .withResponse();
      const requestId = response.headers.get("x-request-id");
      assert.ok(requestId);
      assert.equal(data.id, requestId);
      const accepted = await beamline.store.readLast(
        StreamNames.requests,
        requestSubject("dev", requestId, RequestSlots.accepted),
      );
      assert.equal(accepted?.type, "request.accepted");
      assert.equal(accepted?.requestId, requestId);
    });

    it("is never the client's own id, which is echoed apart as x-client-request-id", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth(), "x-request-id": "client-chosen-42" },
        body: chatBody,
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["x-client-request-id"], "client-chosen-42");
      assert.match(String(answer.headers["x-request-id"]), REQUEST_ID);
      assert.equal(json(answer)["id"], answer.headers["x-request-id"]);
    });
  });

  describe("compression", () => {
    it("compresses a JSON answer with br or gzip when asked, and the body decodes to the same JSON", async () => {
      const plain = await raw(`${beamline.baseUrl}/v1/models`, { headers: auth() });
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.ok(
        plain.body.length >= 128,
        `the model list (${plain.body.length} bytes) is above the threshold`,
      );
      for (const [encoding, decode] of [
        ["br", brotliDecompressSync],
        ["gzip", gunzipSync],
      ] as const) {
        const answer = await raw(`${beamline.baseUrl}/v1/models`, {
          headers: { ...auth(), "accept-encoding": encoding },
        });
        assert.equal(answer.headers["content-encoding"], encoding);
        assert.ok(answer.body.length < plain.body.length);
        assert.deepEqual(JSON.parse(decode(answer.body).toString("utf8")), json(plain));
      }
    });

    it("refuses a compressed request body with 415, saying why", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth(), "content-encoding": "gzip" },
        body: gzipSync(JSON.stringify({ model: "mock-small", messages })),
      });
      assert.equal(answer.status, 415);
      const error = json(answer)["error"] as { message: string; code: string };
      assert.match(error.message, /Content-Encoding "gzip"; send it as plain JSON/);
    });

    it("never compresses an event stream, whatever the client accepts", async () => {
      const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth(), "accept-encoding": "br, gzip" },
        body: JSON.stringify({ model: "mock-small", messages, stream: true }),
      });
      assert.equal(answer.status, 200);
      assert.match(String(answer.headers["content-type"]), /^text\/event-stream/);
      assert.equal(answer.headers["content-encoding"], undefined);
      assert.match(answer.body.toString("utf8"), /data: \[DONE\]\n\n$/);
    });
  });

  it("refuses n > 1 with a 400 naming the parameter and saying why", async () => {
    const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ model: "mock-small", messages, n: 2 }),
    });
    assert.equal(answer.status, 400);
    const error = json(answer)["error"] as { param: string; message: string; code: string };
    assert.equal(error.param, "n");
    assert.match(error.message, /one answer per request/);
    assert.match(String(answer.headers["x-request-id"]), REQUEST_ID);
  });

  describe("rate limits and quota retry-after", () => {
    it("reports the limits on successes in each dialect, then refuses with a retry-after of at most 60 s", async () => {
      const openai = new OpenAI({ apiKey: cappedKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
      // The policy is live once a success reports its limit (a success before that counts nothing).
      const first = await waitFor(
        async () => {
          const { response } = await openai.chat.completions
            .create({ model: "mock-small", messages })
            .withResponse();
          return response.headers.get("x-ratelimit-limit-requests") === "4" ? response.headers : undefined;
        },
        { what: "the capped tenant's policy to reach the worker", timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.equal(first.get("x-ratelimit-remaining-requests"), "3");
      assert.match(String(first.get("x-ratelimit-reset-requests")), /^(\d+ms|\d+s|1m\d+s)$/);
      assert.equal(first.get("x-ratelimit-limit-tokens"), "1000000");

      const anthropic = new Anthropic({ apiKey: cappedKey, baseURL: beamline.baseUrl, maxRetries: 0 });
      const { response } = await anthropic.messages
        .create({ model: "mock-small", max_tokens: 16, messages })
        .withResponse();
      assert.equal(response.headers.get("anthropic-ratelimit-requests-limit"), "4");
      assert.equal(response.headers.get("anthropic-ratelimit-requests-remaining"), "2");
      const resetAt = Date.parse(String(response.headers.get("anthropic-ratelimit-requests-reset")));
      assert.ok(
        resetAt > Date.now() && resetAt <= Date.now() + 62_000,
        "the reset is within the minute window",
      );

      // Spend what is left, then one more: refused, with retry-after no longer than the window.
      let refused: RawAnswer | undefined;
      for (let sent = 0; sent < 4 && !refused; sent++) {
        const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${cappedKey}`, "content-type": "application/json" },
          body: chatBody,
        });
        if (answer.status === 429) refused = answer;
        else assert.equal(answer.status, 200);
      }
      assert.ok(refused, "the fifth request in a minute is refused");
      const seconds = Number(refused.headers["retry-after"]);
      const ms = Number(refused.headers["retry-after-ms"]);
      assert.ok(seconds >= 1 && seconds <= 60, `retry-after ${seconds}`);
      assert.ok(ms > 0 && ms <= 61_000, `retry-after-ms ${ms}`);
      assert.equal(refused.headers["x-ratelimit-remaining-requests"], "0");
      assert.match(String(refused.headers["x-request-id"]), REQUEST_ID);
    });

    it("reports them on streamed successes too, in the headers before the first chunk", async () => {
      const openai = new OpenAI({ apiKey: streamerKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
      const plain = await waitFor(
        async () => {
          const { response } = await openai.chat.completions
            .create({ model: "mock-small", messages })
            .withResponse();
          return response.headers.get("x-ratelimit-limit-requests") === "20" ? response.headers : undefined;
        },
        { what: "the streamer tenant's policy to reach the worker", timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.equal(plain.get("x-ratelimit-remaining-requests"), "19");

      // The SDK hands over the response as soon as its headers are in, before any chunk is read.
      const chat = await openai.chat.completions
        .create({ model: "mock-small", messages, stream: true })
        .withResponse();
      assert.equal(chat.response.headers.get("content-type"), "text/event-stream; charset=utf-8");
      assert.equal(chat.response.headers.get("x-ratelimit-limit-requests"), "20");
      assert.equal(chat.response.headers.get("x-ratelimit-remaining-requests"), "18");
      assert.match(String(chat.response.headers.get("x-ratelimit-reset-requests")), /^(\d+ms|\d+s|1m\d+s)$/);
      assert.equal(
        chat.response.headers.get("x-ratelimit-limit-tokens"),
        plain.get("x-ratelimit-limit-tokens"),
      );
      // This request's reservation is counted too: never more tokens left than the plain answer saw.
      const tokensLeft = Number(chat.response.headers.get("x-ratelimit-remaining-tokens"));
      assert.ok(
        tokensLeft <= Number(plain.get("x-ratelimit-remaining-tokens")),
        `remaining tokens ${tokensLeft}`,
      );
      let text = "";
      for await (const chunk of chat.data) text += chunk.choices[0]?.delta.content ?? "";
      assert.equal(text, `Mock provider reply to: ${messages[0]!.content}`);

      const responses = await openai.responses
        .create({ model: "mock-small", input: messages[0]!.content, stream: true })
        .withResponse();
      assert.equal(responses.response.headers.get("x-ratelimit-limit-requests"), "20");
      assert.equal(responses.response.headers.get("x-ratelimit-remaining-requests"), "17");
      for await (const _event of responses.data);

      const anthropic = new Anthropic({ apiKey: streamerKey, baseURL: beamline.baseUrl, maxRetries: 0 });
      const messagesStream = await anthropic.messages
        .create({ model: "mock-small", max_tokens: 16, messages, stream: true })
        .withResponse();
      const headers = messagesStream.response.headers;
      assert.equal(headers.get("anthropic-ratelimit-requests-limit"), "20");
      assert.equal(headers.get("anthropic-ratelimit-requests-remaining"), "16");
      assert.equal(headers.get("anthropic-ratelimit-tokens-limit"), "1000000");
      const resetAt = Date.parse(String(headers.get("anthropic-ratelimit-requests-reset")));
      assert.ok(
        resetAt > Date.now() && resetAt <= Date.now() + 62_000,
        "the reset is within the minute window",
      );
      assert.equal(
        headers.get("x-ratelimit-limit-requests"),
        null,
        "no OpenAI headers on the Anthropic door",
      );
      const events: string[] = [];
      for await (const event of messagesStream.data) events.push(event.type);
      assert.equal(events.at(-1), "message_stop");
    });

    it("gives streamed answers of a tenant without limits none", async () => {
      const openai = new OpenAI({
        apiKey: beamline.devKey,
        baseURL: `${beamline.baseUrl}/v1`,
        maxRetries: 0,
      });
      const chat = await openai.chat.completions
        .create({ model: "mock-small", messages, stream: true })
        .withResponse();
      for await (const _chunk of chat.data);
      const anthropic = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
      const message = await anthropic.messages
        .create({ model: "mock-small", max_tokens: 16, messages, stream: true })
        .withResponse();
      for await (const _event of message.data);
      for (const headers of [chat.response.headers, message.response.headers]) {
        const names = [...headers.keys()].filter((name) => name.includes("ratelimit"));
        assert.deepEqual(names, []);
        assert.match(String(headers.get("x-request-id")), REQUEST_ID);
      }
    });
  });
});

describe("retry-after from a real breaker, and SSE keep-alive while a provider is slow", {
  timeout: 90_000,
}, () => {
  const COOLDOWN_MS = 30_000;
  const LATENCY_MS = 2_500;
  let beamline: TestBeamline;
  let catalog: TestCatalogFile;

  before(async () => {
    catalog = await writeTestCatalog("e2e-conventions.1", [
      { id: "mock-small", provider: "mock", upstreamModel: "mock-small" },
      { id: "broken", provider: "mock", upstreamModel: "mock-fault-500" },
    ]);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      mock: { latencyMs: LATENCY_MS },
      http: { sseKeepAliveMs: 1_000 },
      execution: { retriesPerCandidate: 0 },
      health: { consecutiveFailuresToOpen: 1, cooldownMs: COOLDOWN_MS },
    });
  });
  after(async () => {
    await beamline?.stop();
    await catalog?.remove();
  });

  it("answers BL_CIRCUIT_OPEN with retry-after sized from the breaker's cooldown", async () => {
    const body = JSON.stringify({ model: "broken", messages });
    const headers = { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" };
    const started = Date.now();
    const open = await waitFor(
      async () => {
        const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers,
          body,
        });
        const code = (json(answer)["error"] as { code?: string } | undefined)?.code;
        return code === "BL_CIRCUIT_OPEN" ? answer : undefined;
      },
      { what: "the broken model's breaker to open", timeoutMs: 40_000, intervalMs: 100 },
    );
    assert.equal(open.status, 503);
    const seconds = Number(open.headers["retry-after"]);
    // The breaker opened after the first failure, so what is left of its cooldown is below
    // the whole cooldown and above the cooldown less the time this test has run.
    const elapsedS = Math.ceil((Date.now() - started) / 1000);
    assert.ok(seconds <= COOLDOWN_MS / 1000, `retry-after ${seconds} within the cooldown`);
    assert.ok(seconds >= COOLDOWN_MS / 1000 - elapsedS, `retry-after ${seconds} is what is left of it`);
    assert.match(String(open.headers["x-request-id"]), REQUEST_ID);
  });

  it("sends keep-alive comments while the first chunk is awaited", async () => {
    const answer = await raw(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages, stream: true }),
    });
    const text = answer.body.toString("utf8");
    assert.ok(text.startsWith(": keep-alive\n\n"), text.slice(0, 80));
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  it("the OpenAI SDK's stream ignores the keep-alive comments", async () => {
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    let text = "";
    for await (const chunk of await client.chat.completions.create({
      model: "mock-small",
      messages,
      stream: true,
    })) {
      text += chunk.choices[0]?.delta.content ?? "";
    }
    assert.equal(text, `Mock provider reply to: ${messages[0]!.content}`);
  });

  it("the Anthropic SDK's stream ignores the keep-alive comments", async () => {
    const client = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
    const stream = client.messages.stream({ model: "mock-small", max_tokens: 64, messages });
    const message = await stream.finalMessage();
    const block = message.content[0];
    assert.equal(
      block?.type === "text" ? block.text : undefined,
      `Mock provider reply to: ${messages[0]!.content}`,
    );
  });
});
