import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChatCompletionChunk } from "../../../src/chat/wire.js";
import {
  type AttemptRecord,
  type BreakerGate,
  type Candidate,
  ConcurrencyPools,
  type ExecutionPolicyInput,
  executeCandidates,
  executionPolicy,
  systemClock,
} from "../../../src/execution/index.js";
import {
  createOpenAiAdapter,
  createProviderRegistry,
  type MockProvider,
  type ProviderRegistry,
  startMockProvider,
} from "../../../src/providers/index.js";
import { dataOf } from "../../support/index.js";

const open: BreakerGate = { isOpen: () => false, admit: async () => ({ admitted: true, probe: false }) };

function mockCandidate(provider: string, upstreamModel: string): Candidate {
  return { provider, model: `${provider}-${upstreamModel}`, upstreamModel, score: 1, reason: "test" };
}

describe("executeCandidates against the mock provider's faults", () => {
  let mock: MockProvider;
  let providers: ProviderRegistry;

  before(async () => {
    mock = await startMockProvider({ chunks: 4, retryAfterSeconds: 0 });
    providers = createProviderRegistry([
      createOpenAiAdapter({ name: "primary", baseUrl: mock.url }),
      createOpenAiAdapter({ name: "backup", baseUrl: mock.url }),
    ]);
  });
  after(async () => {
    await providers.closeAll();
    await mock.close();
  });

  async function run(candidates: Candidate[], stream: boolean, policy: ExecutionPolicyInput = {}) {
    const recorded: AttemptRecord[] = [];
    const sent: ChatCompletionChunk[] = [];
    const outcome = await executeCandidates(
      {
        requestId: "req_it",
        request: { model: "x", messages: [{ role: "user", content: "Say hello" }] },
        stream,
        candidates,
        storedAttempts: [],
        providers,
        breakers: open,
        pools: new ConcurrencyPools(
          () => ({ maxConcurrent: 8, maxQueued: 8, queueTimeoutMs: 1000 }),
          systemClock,
        ),
        policy: executionPolicy({
          timeToFirstTokenMs: 300,
          idleMs: 300,
          totalMs: 2000,
          backoffBaseMs: 10,
          ...policy,
        }),
        clock: systemClock,
        random: () => 0.5,
      },
      {
        async recordAttempt(record) {
          recorded.push(record);
          return record;
        },
        sendChunk: (chunk) => sent.push(chunk),
      },
    );
    const trail = recorded.map((r) =>
      r.type === "attempt.succeeded"
        ? `${r.data.provider} ok`
        : `${r.data.provider} ${r.data.errorClass} ${r.data.next}`,
    );
    return { outcome, recorded, sent, trail };
  }

  for (const stream of [false, true]) {
    const mode = stream ? "streaming" : "plain";

    it(`${mode}: a 500 is retried, then fails over to the next candidate`, async () => {
      const { outcome, trail } = await run(
        [mockCandidate("primary", "mock-fault-500"), mockCandidate("backup", "mock-small")],
        stream,
      );
      assert.equal(outcome.status, "succeeded");
      assert.deepEqual(trail, ["primary server_error retry", "primary server_error failover", "backup ok"]);
    });

    it(`${mode}: a 429 with retry-after is retried honouring it`, async () => {
      const { trail, recorded } = await run(
        [mockCandidate("primary", "mock-fault-429"), mockCandidate("backup", "mock-small")],
        stream,
      );
      assert.deepEqual(trail, ["primary rate_limited retry", "primary rate_limited failover", "backup ok"]);
      assert.equal(dataOf(recorded[0], "attempt.failed").retryAfterMs, 0);
    });

    it(`${mode}: a malformed answer is retried, then failed over`, async () => {
      const { trail } = await run(
        [mockCandidate("primary", "mock-fault-malformed"), mockCandidate("backup", "mock-small")],
        stream,
      );
      assert.deepEqual(trail, ["primary malformed retry", "primary malformed failover", "backup ok"]);
    });

    it(`${mode}: a bad request stops at once`, async () => {
      const { outcome, trail } = await run(
        [mockCandidate("primary", "mock-fault-400"), mockCandidate("backup", "mock-small")],
        stream,
      );
      assert.equal(outcome.status, "failed");
      assert.deepEqual(trail, ["primary bad_request none"]);
    });

    it(`${mode}: a context-window error fails over without a retry`, async () => {
      const { trail } = await run(
        [
          mockCandidate("primary", "mock-fault-context_length_exceeded"),
          mockCandidate("backup", "mock-small"),
        ],
        stream,
      );
      assert.deepEqual(trail, ["primary context_window failover", "backup ok"]);
    });

    it(`${mode}: a provider that hangs is timed out and failed over`, async () => {
      const { trail, recorded } = await run(
        [mockCandidate("primary", "mock-fault-hang"), mockCandidate("backup", "mock-small")],
        stream,
        { retriesPerCandidate: 0 },
      );
      assert.deepEqual(trail, ["primary timeout failover", "backup ok"]);
      assert.match(
        dataOf(recorded[0], "attempt.failed").error.message,
        stream ? /time-to-first-token/ : /total timeout/,
      );
    });
  }

  it("streaming: a cut after chunks reached the client is final, typed, and billed", async () => {
    const { outcome, trail, sent } = await run(
      [mockCandidate("primary", "mock-fault-cut"), mockCandidate("backup", "mock-small")],
      true,
    );
    assert.equal(outcome.status, "failed");
    assert.deepEqual(trail, ["primary stream_interrupted none"]);
    assert.equal(sent.length, 2);
    const data = outcome.attempt.type === "attempt.failed" ? outcome.attempt.data : undefined;
    assert.equal(data?.error.code, "BL_STREAM_INTERRUPTED");
    assert.equal(data?.chunksSent, 2);
    assert.ok((data?.usage?.completionTokens ?? 0) > 0, "partial usage is recorded for billing");
  });

  it("plain: a cut mid-body is a connection failure that fails over", async () => {
    const { trail } = await run(
      [mockCandidate("primary", "mock-fault-cut"), mockCandidate("backup", "mock-small")],
      false,
      { retriesPerCandidate: 0 },
    );
    assert.deepEqual(trail, ["primary connection failover", "backup ok"]);
  });
});
