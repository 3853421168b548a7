import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type BeamlineEvent, isEvent } from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import type { StoredEvent } from "../../src/nats/read-events.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import {
  applyPolicy,
  chat,
  createTenantWithKey,
  type ExampleExtension,
  extensionOutcomes,
  type GatewayAnswer,
  openAiText,
  postJson,
  settledHistory,
  startExampleExtension,
  stopProcess,
  storedChoice,
  usageOf,
} from "../support/extensions.js";
import { sseData } from "../support/sse.js";

/**
 * The example external extension (`examples/extension-competitor-mention.ts`) runs as two
 * separate processes (v1 rejects, v2 rewrites) against the test's nats-server; tenant
 * policies pipeline them next to built-ins; requests go through both front doors.
 */

const competitors = { competitors: ["Acme"] };
const ext = (version: "v1" | "v2", extra: Record<string, unknown> = {}) => ({
  name: "competitor-mention",
  version,
  timeoutMs: 5_000,
  settings: competitors,
  ...extra,
});

const message = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "mock-small",
  max_tokens: 256,
  messages: [{ role: "user", content }],
  ...extra,
});

function eventOf<T extends BeamlineEvent["type"]>(history: readonly StoredEvent[], type: T) {
  const found = history.find(({ event }) => event.type === type);
  return found as (StoredEvent & { event: BeamlineEvent<T> }) | undefined;
}

function streamedText(answer: GatewayAnswer): string {
  return sseData(answer.text)
    .filter((data): data is { choices: Array<{ delta: { content?: string } }> } => typeof data === "object")
    .map((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "").join(""))
    .join("");
}

describe("the example external extension, end to end", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  const processes: ExampleExtension[] = [];
  const keys = new Map<string, string>();
  const key = (tenant: string) => keys.get(tenant) as string;

  before(async () => {
    beamline = await startTestBeamline();
    // Each version is its own process; REGISTER=1 makes each register itself in bl_extensions.
    processes.push(
      await startExampleExtension(beamline.app.natsUrl, "v1", { register: true }),
      await startExampleExtension(beamline.app.natsUrl, "v2", { register: true }),
    );
    const policies: Record<string, unknown> = {
      strict: { pipeline: { validate: [ext("v1")] } },
      rewrite: { pipeline: { pre: [ext("v2")] } },
      "post-rewrite": { pipeline: { post: [ext("v2")] } },
      ordered: {
        pipeline: {
          pre: [
            ext("v2"),
            {
              name: "content-policy",
              version: "v1",
              settings: { categories: [{ name: "vendors", action: "flag", terms: ["another vendor"] }] },
            },
          ],
          validate: [ext("v1")],
          post: [
            { name: "pii", version: "v1", settings: { kinds: ["email"] } },
            { name: "limit", version: "v1", settings: { maxChars: 49 } },
          ],
        },
      },
    };
    for (const [tenant, policy] of Object.entries(policies)) {
      keys.set(tenant, await createTenantWithKey(beamline, tenant));
      await applyPolicy(beamline, tenant, key(tenant), policy);
    }
  });

  after(async () => {
    await Promise.all(processes.map(({ child }) => stopProcess(child)));
    await beamline?.stop();
  });

  /** Asserts the request was refused by competitor-mention/v1 before routing, and cost nothing. */
  async function assertRefusedBeforeProvider(tenant: string, requestId: string): Promise<void> {
    const history = await settledHistory(beamline, tenant, requestId);
    const failed = eventOf(history, "request.failed");
    assert.ok(failed, "the request ended with request.failed");
    assert.equal(failed.event.data.stage, "validate");
    assert.equal(failed.event.data.error.code, "BL_EXTENSION_REJECTED");
    assert.deepEqual(failed.event.data.extension, {
      name: "competitor-mention",
      version: "v1",
      stage: "validate",
    });
    const outcome = extensionOutcomes(history).get("validate.0");
    assert.equal(outcome?.verdict, "reject");
    assert.equal(outcome?.kind, "external");
    assert.equal(outcome?.reason, "competitor products may not be discussed here");
    const types = history.map(({ event }) => event.type);
    assert.ok(!types.includes("route.decided"), `no routing: ${types.join(", ")}`);
    assert.ok(!types.some((type) => type.startsWith("attempt.")), `no provider attempt: ${types.join(", ")}`);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    assert.deepEqual(await usageOf(beamline, tenant, requestId), [], "a refused request is not billed");
  }

  it("v1 rejects through the OpenAI front door with 400 BL_EXTENSION_REJECTED; no provider is called", async () => {
    const answer = await postJson(beamline, "/v1/chat/completions", key("strict"), chat("Is Acme better?"));
    assert.equal(answer.status, 400, answer.text);
    const { error } = answer.body as { error: { code: string; type: string; message: string } };
    assert.equal(error.code, "BL_EXTENSION_REJECTED");
    assert.equal(error.type, "invalid_request_error");
    assert.match(error.message, /competitor-mention\/v1.*competitor products may not be discussed here/);
    await assertRefusedBeforeProvider("strict", answer.requestId);

    // The same tenant's harmless request passes the validator and is billed as usual.
    const allowed = await postJson(
      beamline,
      "/v1/chat/completions",
      key("strict"),
      chat("Is Beamline fast?"),
    );
    assert.equal(allowed.status, 200, allowed.text);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    assert.equal((await usageOf(beamline, "strict", allowed.requestId)).length, 1);
  });

  it("v1 rejects a streamed request with a 400 JSON answer, not a stream", async () => {
    const answer = await postJson(
      beamline,
      "/v1/chat/completions",
      key("strict"),
      chat("Acme, stream please", { stream: true }),
    );
    assert.equal(answer.status, 400, answer.text);
    assert.equal((answer.body as { error: { code: string } }).error.code, "BL_EXTENSION_REJECTED");
    await assertRefusedBeforeProvider("strict", answer.requestId);
  });

  it("v1 rejects through the Anthropic front door with an Anthropic error body", async () => {
    for (const stream of [false, true]) {
      const answer = await postJson(
        beamline,
        "/v1/messages",
        key("strict"),
        message("What about ACME?", { stream }),
      );
      assert.equal(answer.status, 400, answer.text);
      const body = answer.body as { type: string; error: { type: string; code: string; message: string } };
      assert.equal(body.type, "error");
      assert.equal(body.error.type, "invalid_request_error");
      assert.equal(body.error.code, "BL_EXTENSION_REJECTED");
      assert.match(body.error.message, /competitor-mention\/v1/);
      await assertRefusedBeforeProvider("strict", answer.requestId);
    }
  });

  it("v2 in pre rewrites the request the provider sees, through both front doors", async () => {
    const openai = await postJson(beamline, "/v1/chat/completions", key("rewrite"), chat("Is Acme better?"));
    assert.equal(openai.status, 200, openai.text);
    // The mock echoes the prompt it received: the provider saw the rewritten request.
    assert.equal(openAiText(openai), "Mock provider reply to: Is another vendor better?");
    const history = await settledHistory(beamline, "rewrite", openai.requestId);
    const decided = eventOf(history, "route.decided");
    assert.equal(decided?.event.data.request?.messages[0]?.content, "Is another vendor better?");
    const accepted = eventOf(history, "request.accepted");
    assert.equal(
      accepted?.event.data.request?.messages[0]?.content,
      "Is Acme better?",
      "the input is kept as sent",
    );
    const outcome = extensionOutcomes(history).get("pre.0");
    assert.equal(outcome?.verdict, "modify");
    assert.equal(outcome?.kind, "external");
    assert.equal(outcome?.version, "v2");
    assert.equal(outcome?.summary, "replaced 1 competitor mention(s)");

    const anthropic = await postJson(beamline, "/v1/messages", key("rewrite"), message("Acme or not?"));
    assert.equal(anthropic.status, 200, anthropic.text);
    assert.deepEqual((anthropic.body as { content: unknown }).content, [
      { type: "text", text: "Mock provider reply to: another vendor or not?" },
    ]);
  });

  it("v2 in post rewrites the answer; in a stream it changes the stored completion only", async () => {
    const plain = await postJson(
      beamline,
      "/v1/chat/completions",
      key("post-rewrite"),
      chat("Tell me about Acme"),
    );
    assert.equal(plain.status, 200, plain.text);
    assert.equal(openAiText(plain), "Mock provider reply to: Tell me about another vendor");
    const plainHistory = await settledHistory(beamline, "post-rewrite", plain.requestId);
    assert.equal(extensionOutcomes(plainHistory).get("post.0")?.verdict, "modify");
    const attempt = eventOf(plainHistory, "attempt.succeeded");
    assert.equal(
      storedChoice(attempt?.event.data.completion).content,
      "Mock provider reply to: Tell me about another vendor",
      "the provider's raw text is not stored",
    );

    const anthropic = await postJson(beamline, "/v1/messages", key("post-rewrite"), message("Acme!"));
    assert.equal(anthropic.status, 200, anthropic.text);
    assert.deepEqual((anthropic.body as { content: unknown }).content, [
      { type: "text", text: "Mock provider reply to: another vendor!" },
    ]);

    // An external step needs the whole text: it runs after the stream, on the stored completion.
    const streamed = await postJson(
      beamline,
      "/v1/chat/completions",
      key("post-rewrite"),
      chat("Tell me about Acme", { stream: true }),
    );
    assert.equal(streamed.status, 200, streamed.text);
    assert.equal(streamedText(streamed), "Mock provider reply to: Tell me about Acme");
    const streamedHistory = await settledHistory(beamline, "post-rewrite", streamed.requestId);
    const completed = eventOf(streamedHistory, "request.completed");
    assert.equal(
      storedChoice(completed?.event.data.completion).content,
      "Mock provider reply to: Tell me about another vendor",
    );
  });

  it("pins versions per tenant: v1 and v2 of the same extension serve two tenants at once", async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => {
        const tenant = i % 2 === 0 ? "strict" : "rewrite";
        return postJson(beamline, "/v1/chat/completions", key(tenant), chat(`Acme question ${i}`)).then(
          (answer) => ({ tenant, answer }),
        );
      }),
    );
    for (const [i, { tenant, answer }] of answers.entries()) {
      if (tenant === "strict") {
        assert.equal(answer.status, 400, answer.text);
        assert.equal((answer.body as { error: { code: string } }).error.code, "BL_EXTENSION_REJECTED");
      } else {
        assert.equal(answer.status, 200, answer.text);
        assert.equal(openAiText(answer), `Mock provider reply to: another vendor question ${i}`);
      }
      const history = await settledHistory(beamline, tenant, answer.requestId);
      const outcomes = [...extensionOutcomes(history).values()];
      assert.deepEqual(
        outcomes.map(({ name, version }) => `${name}/${version}`),
        [tenant === "strict" ? "competitor-mention/v1" : "competitor-mention/v2"],
      );
    }
  });

  for (const stream of [false, true]) {
    it(`runs pre → validate → post in pipeline order (${stream ? "streamed" : "plain"})`, async () => {
      // pre.0 (v2) rewrites Acme; pre.1 flags what pre.0 wrote; validate.0 (v1) would reject
      // "Acme" had it run first; post.0 masks the e-mail, then post.1 cuts to 49 characters:
      // cut first, the e-mail would be broken and left unmasked.
      const answer = await postJson(
        beamline,
        "/v1/chat/completions",
        key("ordered"),
        chat("Acme vs bob@example.com, thanks", { stream }),
      );
      assert.equal(answer.status, 200, answer.text);
      const expected = "Mock provider reply to: another vendor vs [EMAIL]";
      assert.equal(stream ? streamedText(answer) : openAiText(answer), expected);

      const history = await settledHistory(beamline, "ordered", answer.requestId);
      const outcomes = extensionOutcomes(history);
      assert.deepEqual(
        [...outcomes.keys()].sort(),
        ["post.0", "post.1", "pre.0", "pre.1", "validate.0"],
        "one outcome per step",
      );
      assert.equal(outcomes.get("pre.0")?.verdict, "modify");
      assert.deepEqual(outcomes.get("pre.1")?.changes, { "flag.vendors": 1 });
      assert.equal(outcomes.get("validate.0")?.verdict, "allow");
      assert.deepEqual(outcomes.get("post.0")?.changes, { "masked.email": 1 });
      assert.equal(outcomes.get("post.0")?.streamed, stream ? true : undefined);
      assert.equal(outcomes.get("post.1")?.verdict, "modify");

      // In the log: request outcomes before the decision, post outcomes before the attempt.
      const seq = (type: string) => history.find(({ event }) => event.type === type)?.seq ?? Number.NaN;
      const decidedSeq = seq("route.decided");
      const attemptSeq = seq("attempt.succeeded");
      for (const key of ["pre.0", "pre.1", "validate.0"]) {
        assert.ok(
          (outcomes.get(key)?.seq ?? Number.POSITIVE_INFINITY) < decidedSeq,
          `${key} before route.decided`,
        );
      }
      for (const key of ["post.0", "post.1"]) {
        const at = outcomes.get(key)?.seq ?? Number.NaN;
        assert.ok(at > decidedSeq && at < attemptSeq, `${key} between route.decided and the attempt`);
      }
      const completed = eventOf(history, "request.completed");
      assert.ok(completed && isEvent(completed.event, "request.completed"));
      assert.deepEqual(storedChoice(completed.event.data.completion), {
        content: expected,
        finishReason: "length",
      });
    });
  }
});
