/**
 * The fault matrix (issue 3, second acceptance bullet): every fault of the fake providers ×
 * plain/streaming × faulty wire (OpenAI, Anthropic, Gemini) × front door (/v1/chat/completions,
 * /v1/messages), through the gateway, on one Beamline, cells in parallel.
 *
 * Set-up. Each faulty model `fault-<provider>-<fault>` is a catalog model whose upstream name
 * `mock-fault-<fault>` makes the fake inject that fault on every call. The tenant's policy
 * (published with publishPolicy) defines a tenant alias of the same name listing the faulty
 * model first and a healthy model of ANOTHER provider second (`claude-haiku-4-5` on the
 * Anthropic wire when the OpenAI-wire mock is faulty, `mock-small` otherwise): a tenant alias
 * shadows the catalog name, so the client asks for the faulty model and the policy ranks
 * [faulty, healthy]. Execution: time to first token 1 000 ms, idle 1 000 ms, total 2 500 ms,
 * `retriesPerCandidate` 1, backoff 20–100 ms, `maxAttempts` 4, `maxRetryAfterMs` 5 000 (the
 * fakes send `retry-after: 1`). Breakers are set never to open here (thresholds of 1 000),
 * so each cell sees the retry/failover rules alone; breakers have their own test.
 *
 * Semantics asserted (docs/reliability.md, "Retry, failover, stop" and "Streaming"):
 *
 * 1. Retryable faults before any chunk reached the client — 429 (`rate_limited`, retry-after
 *    honoured: the retry's backoff is at least the 1 000 ms asked for, and recorded), 500 and
 *    502 (`server_error`; Gemini's fake renders 502 as UNAVAILABLE → `overloaded`), 503 and 529
 *    (`overloaded`), hang (`timeout`: time to first token when streaming, total when plain), a
 *    plain answer stalled mid-body (`timeout`, total) or cut mid-body (`connection`), malformed
 *    JSON body or first SSE event (`malformed`), an error body in a plain 200 (`stream_error`
 *    plain: `server_error`, Gemini `overloaded`): attempt 1 fails with `next: retry`
 *    (`retryDelayMs` set), attempt 2 on the same candidate (`retryOf: 1`, that backoff) fails
 *    with `next: failover`, attempt 3 succeeds on the healthy candidate. The client sees only
 *    the healthy answer (200; when streaming, exactly the healthy text and a clean end: no
 *    spliced chunks), with the usage that was billed.
 *    `request.completed` names the healthy provider/model with `attempts: 3`; exactly one
 *    `usage.recorded`, outcome `completed`, for the healthy provider, with the completed usage.
 * 2. Context window exceeded (`context_window`): never retried on the same candidate; attempt 1
 *    fails with `next: failover`, attempt 2 succeeds on the healthy candidate; billed once as in 1.
 * 3. A provider 400 (`bad_request`) is the request's fault: no retry, no failover; attempt 1 is
 *    final (`next: none`); the client gets 400 `BL_PROVIDER_BAD_REQUEST` (HTTP status and JSON
 *    error body, also when it asked for a stream, since nothing was sent yet); nothing billed.
 * 4. A stream that broke after chunks reached the client — stall (the idle timeout fires),
 *    cut (the connection closes), an error event mid-stream (`stream_error`): the attempt is
 *    final with class `stream_interrupted`, `chunksSent > 0` and its partial `usage`; no
 *    failover (streams are never spliced). The client got 200, some text that is a prefix of
 *    the answer, then an error event `BL_STREAM_INTERRUPTED` and no `[DONE]` / no
 *    `message_stop`. `request.failed` names the faulty provider/model and carries that partial
 *    usage; exactly one `usage.recorded`, outcome `failed`, bills it. No wire's usage report had
 *    arrived, so the usage is the estimate (`usageEstimated`): the prompt and the streamed text
 *    counted with the model's tokenizer (src/tokens).
 *
 * The same table, in prose, is in docs/reliability.md ("End to end: what the client sees and
 * what is billed").
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { publishPolicy } from "../../src/policies/index.js";
import { geminiBaseUrl, MockFault, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { countPromptTokens, countTextTokens, tokenizerFor } from "../../src/tokens/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { callFrontDoor, type FrontDoor, type FrontDoorAnswer } from "../support/front-door-client.js";
import { type RequestEvidence, requestEvidence } from "../support/request-evidence.js";
import { signedStore } from "../support/signing.js";
import { type TestCatalogFile, type TestModel, writeTestCatalog } from "../support/test-catalog.js";
import { waitFor } from "../support/wait.js";

const PROVIDER_KEY = "sk-e2e-faults-provider-key-0123456789";
const PROMPT = "Tell the fault matrix something";
const HEALTHY_TEXT = `Mock provider reply to: ${PROMPT}`;
/** The fakes' `retry-after` on a 429, in milliseconds. */
const RETRY_AFTER_MS = 1_000;

const HEALTHY: Record<"mock" | "anthropic", TestModel> = {
  mock: { id: "mock-small", provider: "mock", upstreamModel: "mock-small" },
  anthropic: { id: "claude-haiku-4-5", provider: "anthropic", upstreamModel: "claude-haiku-4-5" },
};
const FAULTY_PROVIDERS = ["mock", "anthropic", "gemini"] as const;
type FaultyProvider = (typeof FAULTY_PROVIDERS)[number];
const fallbackFor = (provider: FaultyProvider) => (provider === "mock" ? HEALTHY.anthropic : HEALTHY.mock);
const faultyModel = (provider: FaultyProvider, fault: MockFault): TestModel => ({
  id: `fault-${provider}-${fault}`,
  provider,
  upstreamModel: `mock-fault-${fault}`,
});

/** What a cell must end in; see the header. */
type Expected =
  | {
      kind: "failover";
      errorClass: string;
      retried: boolean;
      /** Where a wire's fake renders the fault so that its adapter classifies it otherwise. */
      classOn?: Partial<Record<FaultyProvider, string>>;
    }
  | { kind: "stop"; errorClass: string; code: string; status: number }
  | { kind: "interrupted" };

/** The faults of issue 3 item 3, plus the two the fakes also have (400, an error event). */
const FAULTS: ReadonlyArray<{ fault: MockFault; plain: Expected; streaming: Expected }> = [
  {
    fault: MockFault.RateLimited,
    plain: { kind: "failover", errorClass: "rate_limited", retried: true },
    streaming: { kind: "failover", errorClass: "rate_limited", retried: true },
  },
  {
    fault: MockFault.ServerError,
    plain: { kind: "failover", errorClass: "server_error", retried: true },
    streaming: { kind: "failover", errorClass: "server_error", retried: true },
  },
  {
    // Google's API has no status name for 502: the Gemini fake says UNAVAILABLE (→ overloaded).
    fault: MockFault.BadGateway,
    plain: { kind: "failover", errorClass: "server_error", retried: true, classOn: { gemini: "overloaded" } },
    streaming: {
      kind: "failover",
      errorClass: "server_error",
      retried: true,
      classOn: { gemini: "overloaded" },
    },
  },
  {
    fault: MockFault.Overloaded,
    plain: { kind: "failover", errorClass: "overloaded", retried: true },
    streaming: { kind: "failover", errorClass: "overloaded", retried: true },
  },
  {
    fault: MockFault.AnthropicOverloaded,
    plain: { kind: "failover", errorClass: "overloaded", retried: true },
    streaming: { kind: "failover", errorClass: "overloaded", retried: true },
  },
  {
    fault: MockFault.Hang,
    plain: { kind: "failover", errorClass: "timeout", retried: true },
    streaming: { kind: "failover", errorClass: "timeout", retried: true },
  },
  {
    fault: MockFault.Stall,
    plain: { kind: "failover", errorClass: "timeout", retried: true },
    streaming: { kind: "interrupted" },
  },
  {
    fault: MockFault.Cut,
    plain: { kind: "failover", errorClass: "connection", retried: true },
    streaming: { kind: "interrupted" },
  },
  {
    fault: MockFault.Malformed,
    plain: { kind: "failover", errorClass: "malformed", retried: true },
    streaming: { kind: "failover", errorClass: "malformed", retried: true },
  },
  {
    fault: MockFault.ContextLength,
    plain: { kind: "failover", errorClass: "context_window", retried: false },
    streaming: { kind: "failover", errorClass: "context_window", retried: false },
  },
  {
    // Plain: an error body in a 200. OpenAI's and Anthropic's adapters call any error body in a
    // 200 a server error; Gemini's classifies the embedded status (UNAVAILABLE → overloaded).
    fault: MockFault.StreamError,
    plain: { kind: "failover", errorClass: "server_error", retried: true, classOn: { gemini: "overloaded" } },
    streaming: { kind: "interrupted" },
  },
  {
    fault: MockFault.BadRequest,
    plain: { kind: "stop", errorClass: "bad_request", code: "BL_PROVIDER_BAD_REQUEST", status: 400 },
    streaming: { kind: "stop", errorClass: "bad_request", code: "BL_PROVIDER_BAD_REQUEST", status: 400 },
  },
];
const DOORS: readonly FrontDoor[] = ["openai", "anthropic"];
/** A tenant alias that is no catalog name (docs/policies.md, "Which models a request considers"). */
const TENANT_ALIAS = "resilient";

describe("fault matrix: faults × plain/streaming × wire × front door", {
  timeout: 110_000,
  concurrency: 12,
}, () => {
  let beamline: TestBeamline;
  let wire: MockProvider;
  let catalog: TestCatalogFile;

  before(async () => {
    wire = await startMockProvider({ apiKey: PROVIDER_KEY, retryAfterSeconds: RETRY_AFTER_MS / 1000 });
    const faulty = FAULTY_PROVIDERS.flatMap((provider) =>
      FAULTS.map(({ fault }) => faultyModel(provider, fault)),
    );
    catalog = await writeTestCatalog("e2e-faults.1", [HEALTHY.mock, HEALTHY.anthropic, ...faulty]);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      anthropic: { apiKey: PROVIDER_KEY, baseUrl: wire.url },
      gemini: { apiKey: PROVIDER_KEY, baseUrl: geminiBaseUrl(wire.url) },
      execution: {
        timeToFirstTokenMs: 1_000,
        idleMs: 1_000,
        totalMs: 2_500,
        maxAttempts: 4,
        retriesPerCandidate: 1,
        backoffBaseMs: 20,
        backoffMaxMs: 100,
        maxRetryAfterMs: 5_000,
      },
      health: { consecutiveFailuresToOpen: 1_000, minAttemptsInWindow: 1_000 },
    });
    // [faulty, healthy of another provider] under the faulty model's own name.
    const aliases = Object.fromEntries(
      faulty.map((model) => [
        model.id,
        { models: [model.id, fallbackFor(model.provider as FaultyProvider).id] },
      ]),
    );
    const store = signedStore(beamline.nc);
    aliases[TENANT_ALIAS] = { models: [faultyModel("mock", MockFault.ServerError).id, HEALTHY.anthropic.id] };
    await publishPolicy(store, "dev", { routing: { aliases } }, new Date());
    // Live once the worker routes with it: a context-window fault (never retried) then fails
    // over to the healthy model instead of ending the request.
    await waitFor(
      async () => {
        const answer = await callFrontDoor({
          baseUrl: beamline.baseUrl,
          key: beamline.devKey,
          door: "openai",
          model: faultyModel("mock", MockFault.ContextLength).id,
          stream: false,
        });
        return answer.status === 200 && answer.text === HEALTHY_TEXT;
      },
      {
        what: "the tenant policy to route the faulty model to its fallback",
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    );
  });
  after(async () => {
    await beamline?.stop();
    await wire?.close();
    await catalog?.remove();
  });

  // The front doors check the requested model against what the tenant's policy can resolve
  // (tenant aliases first, then `auto`, then the catalog), as docs/policies.md says.
  for (const door of DOORS) {
    it(`a tenant alias that is no catalog name routes through the policy (${door} front door)`, async () => {
      for (const model of [TENANT_ALIAS, "auto"]) {
        const answer = await callFrontDoor({
          baseUrl: beamline.baseUrl,
          key: beamline.devKey,
          door,
          model,
          stream: false,
        });
        assert.equal(answer.status, 200, `${model}: ${JSON.stringify(answer)}`);
        assert.equal(answer.text, HEALTHY_TEXT);
      }
    });
  }

  for (const provider of FAULTY_PROVIDERS) {
    for (const { fault, plain, streaming } of FAULTS) {
      for (const stream of [false, true]) {
        for (const door of DOORS) {
          const expected = stream ? streaming : plain;
          const model = faultyModel(provider, fault);
          const name = `${fault} from ${provider} (${stream ? "streaming" : "plain"}) via ${door}: ${describeExpected(expected)}`;
          it(name, async () => {
            const answer = await callFrontDoor({
              baseUrl: beamline.baseUrl,
              key: beamline.devKey,
              door,
              model: model.id,
              stream,
              prompt: PROMPT,
            });
            const requestId = answer.requestId;
            assert.ok(requestId, `the answer names its request id: ${JSON.stringify(answer)}`);
            const evidence = await requestEvidence(beamline.nc, "dev", requestId);
            const context = `${name}\n  client: ${JSON.stringify(answer)}\n  attempts: ${summarise(evidence)}`;
            try {
              assertCell(expected, { provider, model, stream, answer, evidence });
            } catch (error) {
              (error as Error).message += `\n${context}`;
              throw error;
            }
          });
        }
      }
    }
  }
});

function describeExpected(expected: Expected): string {
  if (expected.kind === "failover")
    return `${expected.errorClass}, ${expected.retried ? "retried then failed over" : "failed over"}`;
  if (expected.kind === "stop") return `${expected.errorClass}, stops`;
  return "stream_interrupted, error event";
}

function summarise(evidence: RequestEvidence): string {
  const attempts = evidence.attempts.map((attempt) =>
    attempt.type === "attempt.succeeded"
      ? `ok ${attempt.data.provider}/${attempt.data.model}`
      : `${attempt.data.errorClass} ${attempt.data.provider}/${attempt.data.model} next=${attempt.data.next} final=${attempt.data.final} chunks=${attempt.data.chunksSent}`,
  );
  return `${attempts.join(" | ")} → ${evidence.terminal.type}; usage records ${evidence.usage.length}`;
}

interface Cell {
  provider: FaultyProvider;
  model: TestModel;
  stream: boolean;
  answer: FrontDoorAnswer;
  evidence: RequestEvidence;
}

function assertCell(expected: Expected, cell: Cell): void {
  const { provider, model, stream, answer, evidence } = cell;
  const { attempts, terminal, usage } = evidence;
  const failed = attempts.filter((attempt) => attempt.type === "attempt.failed");
  for (const attempt of failed) {
    assert.equal(attempt.data.provider, provider, "every failed attempt was on the faulty candidate");
    assert.equal(attempt.data.model, model.id);
    assert.equal(attempt.data.streamed, stream);
  }

  if (expected.kind === "failover") {
    const fallback = fallbackFor(provider);
    const errorClass = expected.classOn?.[provider] ?? expected.errorClass;
    const tries = expected.retried ? 2 : 1;
    assert.deepEqual(
      attempts.map((attempt) => attempt.type),
      [...Array<string>(tries).fill("attempt.failed"), "attempt.succeeded"],
      "failed tries on the faulty candidate, then one success",
    );
    assert.deepEqual(
      failed.map((attempt) => [
        attempt.data.errorClass,
        attempt.data.next,
        attempt.data.final,
        attempt.data.chunksSent,
      ]),
      expected.retried
        ? [
            [errorClass, "retry", false, 0],
            [errorClass, "failover", false, 0],
          ]
        : [[errorClass, "failover", false, 0]],
    );
    if (expected.retried) {
      const first = failed[0]!.data;
      const second = failed[1]!.data;
      assert.ok(first.retryDelayMs !== undefined, "a retry records its backoff");
      assert.equal(second.retryOf, 1);
      assert.equal(second.backoffMs, first.retryDelayMs);
      if (errorClass === "rate_limited") {
        assert.equal(first.retryAfterMs, RETRY_AFTER_MS, "the provider's retry-after is recorded");
        assert.ok(
          first.retryDelayMs! >= RETRY_AFTER_MS,
          `retry waited ${first.retryDelayMs} ms ≥ retry-after`,
        );
      }
    }
    const success = attempts.at(-1)!;
    assert.equal(success.data.provider, fallback.provider);
    assert.equal(success.data.model, fallback.id);
    assert.equal(terminal.type, "request.completed");
    assert.equal(terminal.data.provider, fallback.provider, "the healthy candidate served");
    assert.equal(terminal.data.model, fallback.id);
    assert.equal(terminal.data.attempts, tries + 1);

    assert.equal(answer.status, 200);
    assert.equal(answer.eventStream, stream);
    assert.equal(answer.text, HEALTHY_TEXT, "the client sees only the healthy answer");
    assert.equal(answer.error, undefined);
    if (stream) assert.ok(answer.cleanEnd, "a successful stream ends cleanly");
    const billedUsage = terminal.data.usage;
    assert.equal(usage.length, 1, "exactly one usage.recorded");
    assert.equal(usage[0]!.outcome, "completed");
    assert.equal(usage[0]!.provider, fallback.provider);
    assert.equal(usage[0]!.model, fallback.id);
    assert.deepEqual(
      [usage[0]!.promptTokens, usage[0]!.completionTokens, usage[0]!.cachedTokens],
      [billedUsage.promptTokens, billedUsage.completionTokens, billedUsage.cachedTokens],
    );
    assert.deepEqual(answer.usage, billedUsage, "the client was told what was billed");
    return;
  }

  if (expected.kind === "stop") {
    assert.equal(attempts.length, 1);
    const only = failed[0]!.data;
    assert.deepEqual(
      [only.errorClass, only.next, only.final, only.chunksSent],
      [expected.errorClass, "none", true, 0],
    );
    assert.equal(only.error.code, expected.code);
    assert.equal(terminal.type, "request.failed");
    assert.equal(terminal.data.error.code, expected.code);
    assert.equal(terminal.data.provider, provider);
    assert.equal(answer.status, expected.status);
    assert.equal(answer.eventStream, false, "nothing was streamed: a proper HTTP error");
    assert.equal(answer.error?.code, expected.code);
    assert.equal(usage.length, 0, "nothing billed: the provider produced no tokens");
    return;
  }

  // A stream interrupted after bytes reached the client.
  assert.ok(stream);
  assert.equal(attempts.length, 1, "no failover once chunks were sent");
  const only = failed[0]!.data;
  assert.equal(only.errorClass, "stream_interrupted");
  assert.equal(only.error.code, "BL_STREAM_INTERRUPTED");
  assert.deepEqual([only.next, only.final], ["none", true]);
  assert.ok(only.chunksSent > 0, "chunks had reached the client");
  assert.ok(only.usage, "the partial usage is recorded on the attempt");
  // No usage chunk had arrived (every wire reports usage last): the router's own count, with
  // the faulty model's tokenizer (src/tokens; these upstream names have no public one).
  assert.equal(only.usageEstimated, true, "the partial usage is an estimate");
  const tokenizer = tokenizerFor(model);
  assert.equal(
    only.usage.completionTokens,
    countTextTokens(tokenizer, answer.text),
    "estimated from the streamed text",
  );
  // Both front doors turn this one-message request into the same canonical messages.
  assert.equal(
    only.usage.promptTokens,
    countPromptTokens(tokenizer, { messages: [{ role: "user", content: PROMPT }] }),
    "estimated from the prompt",
  );
  assert.equal(terminal.type, "request.failed");
  assert.equal(terminal.data.error.code, "BL_STREAM_INTERRUPTED");
  assert.equal(terminal.data.provider, provider);
  assert.equal(terminal.data.model, model.id);
  assert.deepEqual(terminal.data.usage, only.usage, "the terminal event carries the partial usage");

  assert.equal(answer.status, 200);
  assert.ok(answer.eventStream);
  assert.ok(answer.textEvents > 0, "part of the answer was streamed");
  assert.ok(
    HEALTHY_TEXT.startsWith(answer.text) && answer.text.length < HEALTHY_TEXT.length,
    `a strict prefix of the answer: ${JSON.stringify(answer.text)}`,
  );
  assert.equal(answer.error?.code, "BL_STREAM_INTERRUPTED", "the stream ends with an error event");
  assert.equal(answer.cleanEnd, false, "never a clean end");

  assert.equal(usage.length, 1, "the partial usage is billed once");
  assert.equal(usage[0]!.outcome, "failed");
  assert.equal(usage[0]!.provider, provider);
  assert.equal(usage[0]!.model, model.id);
  assert.deepEqual(
    [usage[0]!.promptTokens, usage[0]!.completionTokens, usage[0]!.cachedTokens],
    [only.usage.promptTokens, only.usage.completionTokens, only.usage.cachedTokens],
  );
}
