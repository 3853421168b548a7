import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type BeamlineEvent, isEvent } from "../../src/events/index.js";
import type { StoredEvent } from "../../src/nats/read-events.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import {
  applyPolicy,
  createTenantWithKey,
  extensionOutcomes,
  type GatewayAnswer,
  postJson,
  settledHistory,
  storedChoice,
} from "../support/extensions.js";
import { sseData } from "../support/sse.js";

/**
 * PII through the whole pipeline: `pii/v1` in `pre` masks the request before the provider
 * sees it (the mock echoes the prompt it received), and in `post` masks a streamed answer
 * whose secret the provider sends split over many chunks, on the wire and in the log.
 */

/** The mock streams its echo in this many chunks: a 40-character secret spans a dozen. */
const MOCK_CHUNKS = 24;
const SECRET = "sk-proj-Q7fLx2Vb9TzR4mKp8WnY3cHd6JsA1eUg";
/** Pieces of the secret that must never reach the client: any six characters of it. */
const SECRET_FRAGMENTS = Array.from({ length: SECRET.length - 5 }, (_, i) => SECRET.slice(i, i + 6));

const policy = {
  pipeline: {
    // Secrets are left in the request on purpose, so the provider sends one back.
    pre: [{ name: "pii", version: "v1", settings: { kinds: ["email", "phone", "card"] } }],
    post: [{ name: "pii", version: "v1", settings: { kinds: ["secret", "email", "card"] } }],
  },
};

interface OpenAiChunk {
  choices: Array<{ delta: { content?: string } }>;
}

/** Content of every OpenAI SSE chunk, in order. */
function openAiDeltas(answer: GatewayAnswer): string[] {
  return sseData(answer.text)
    .filter((data): data is OpenAiChunk => typeof data === "object" && data !== null && "choices" in data)
    .map((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "").join(""))
    .filter((text) => text !== "");
}

/** Text of every Anthropic `text_delta`, in order. */
function anthropicDeltas(answer: GatewayAnswer): string[] {
  return sseData(answer.text)
    .filter(
      (data): data is { type: string; delta: { type: string; text: string } } =>
        typeof data === "object" &&
        data !== null &&
        (data as { type?: string }).type === "content_block_delta",
    )
    .filter((data) => data.delta.type === "text_delta")
    .map((data) => data.delta.text);
}

function eventOf<T extends BeamlineEvent["type"]>(
  history: readonly StoredEvent[],
  type: T,
): BeamlineEvent<T> {
  const found = history.find(({ event }) => event.type === type)?.event;
  assert.ok(found && isEvent(found, type), `the history holds ${type}`);
  return found;
}

function assertNoSecretFragment(text: string, where: string): void {
  const leaked = SECRET_FRAGMENTS.filter((fragment) => text.includes(fragment));
  assert.deepEqual(leaked, [], `no piece of the secret in ${where}`);
}

describe("PII masking through the whole pipeline", { timeout: 90_000 }, () => {
  let mock: MockProvider;
  let beamline: TestBeamline;
  let key: string;

  before(async () => {
    mock = await startMockProvider({ chunks: MOCK_CHUNKS });
    beamline = await startTestBeamline({ mock: { url: mock.url } });
    key = await createTenantWithKey(beamline, "masked");
    await applyPolicy(beamline, "masked", key, policy);
  });

  after(async () => {
    await beamline?.stop();
    await mock?.close();
  });

  it("masks request PII before the provider sees it (OpenAI front door)", async () => {
    const answer = await postJson(beamline, "/v1/chat/completions", key, {
      model: "mock-small",
      messages: [{ role: "user", content: "card 4111 1111 1111 1111, mail ann@example.org" }],
    });
    assert.equal(answer.status, 200, answer.text);
    const expected = "Mock provider reply to: card [CARD], mail [EMAIL]";
    assert.equal(
      (answer.body as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content,
      expected,
    );

    const history = await settledHistory(beamline, "masked", answer.requestId);
    const decided = eventOf(history, "route.decided");
    assert.equal(decided.data.request?.messages[0]?.content, "card [CARD], mail [EMAIL]");
    // What the provider answered (its echo of what it received) as stored with the attempt.
    assert.equal(storedChoice(eventOf(history, "attempt.succeeded").data.completion).content, expected);
    const outcomes = extensionOutcomes(history);
    assert.deepEqual(outcomes.get("pre.0")?.changes, { "masked.card": 1, "masked.email": 1 });
    assert.equal(outcomes.get("post.0")?.verdict, "allow", "nothing left to mask in the answer");
    for (const { event } of history.filter(({ event }) => event.type !== "request.accepted")) {
      const stored = JSON.stringify(event.data);
      assert.ok(
        !stored.includes("ann@example.org") && !stored.includes("4111 1111"),
        `${event.type} holds no raw PII`,
      );
    }
  });

  it("masks request PII in the Anthropic front door's system prompt and text blocks", async () => {
    const answer = await postJson(beamline, "/v1/messages", key, {
      model: "mock-small",
      max_tokens: 200,
      system: "Reply to ann@example.org",
      messages: [{ role: "user", content: [{ type: "text", text: "call +1 415 555 0100 now" }] }],
    });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual((answer.body as { content: unknown }).content, [
      { type: "text", text: "Mock provider reply to: call [PHONE] now" },
    ]);
    const decided = eventOf(await settledHistory(beamline, "masked", answer.requestId), "route.decided");
    assert.ok(
      !JSON.stringify(decided.data.request).includes("ann@example.org"),
      "the system prompt was masked",
    );
  });

  it("without a pipeline the provider's stream carries the secret split over several chunks", async () => {
    // The premise of the next tests: the mock really sends the secret in pieces.
    const answer = await postJson(beamline, "/v1/chat/completions", beamline.devKey, {
      model: "mock-small",
      stream: true,
      messages: [{ role: "user", content: `my key is ${SECRET} ok` }],
    });
    assert.equal(answer.status, 200, answer.text);
    const deltas = openAiDeltas(answer);
    assert.equal(deltas.join(""), `Mock provider reply to: my key is ${SECRET} ok`);
    const secretStart = deltas.join("").indexOf(SECRET);
    const secretEnd = secretStart + SECRET.length;
    let offset = 0;
    let carrying = 0;
    for (const delta of deltas) {
      if (offset < secretEnd && offset + delta.length > secretStart) carrying += 1;
      offset += delta.length;
    }
    assert.ok(carrying >= 3, `the secret spans ${carrying} chunks`);
  });

  it("masks a secret split across chunk boundaries on the OpenAI SSE wire and in the stored completion", async () => {
    const answer = await postJson(beamline, "/v1/chat/completions", key, {
      model: "mock-small",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: `my key is ${SECRET} ok` }],
    });
    assert.equal(answer.status, 200, answer.text);
    const expected = "Mock provider reply to: my key is [SECRET] ok";
    const deltas = openAiDeltas(answer);
    assert.equal(deltas.join(""), expected);
    assert.ok(deltas.length > 2, `still streamed in chunks (${deltas.length})`);
    assert.equal(sseData(answer.text).at(-1), "[DONE]");
    assertNoSecretFragment(answer.text, "the SSE body");

    const history = await settledHistory(beamline, "masked", answer.requestId);
    assert.equal(storedChoice(eventOf(history, "request.completed").data.completion).content, expected);
    assert.equal(storedChoice(eventOf(history, "attempt.succeeded").data.completion).content, expected);
    const post = extensionOutcomes(history).get("post.0");
    assert.equal(post?.streamed, true);
    assert.deepEqual(post?.changes, { "masked.secret": 1 });
    for (const { event } of history.filter(({ event }) => event.type !== "request.accepted")) {
      assertNoSecretFragment(JSON.stringify(event.data), event.type);
    }
  });

  it("masks a secret split across chunk boundaries on the Anthropic SSE wire", async () => {
    const answer = await postJson(beamline, "/v1/messages", key, {
      model: "mock-small",
      max_tokens: 200,
      stream: true,
      messages: [{ role: "user", content: `key ${SECRET}, and mail bob@example.com` }],
    });
    assert.equal(answer.status, 200, answer.text);
    const deltas = anthropicDeltas(answer);
    // bob@example.com was masked in the request already; the secret only on its way back.
    assert.equal(deltas.join(""), "Mock provider reply to: key [SECRET], and mail [EMAIL]");
    assert.ok(deltas.length > 2, `still streamed in deltas (${deltas.length})`);
    assertNoSecretFragment(answer.text, "the Anthropic SSE body");
    const history = await settledHistory(beamline, "masked", answer.requestId);
    assert.equal(
      storedChoice(eventOf(history, "request.completed").data.completion).content,
      "Mock provider reply to: key [SECRET], and mail [EMAIL]",
    );
  });
});
