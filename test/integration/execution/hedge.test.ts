import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ChatCompletionChunk } from "../../../src/chat/wire.js";
import {
  type AttemptRecord,
  type BreakerGate,
  type Candidate,
  ConcurrencyPools,
  executeCandidates,
  executionPolicy,
  type HedgeGrant,
  type HedgeSettings,
  systemClock,
} from "../../../src/execution/index.js";
import {
  createOpenAiAdapter,
  createProviderRegistry,
  type MockProvider,
  type ProviderRegistry,
  startMockProvider,
} from "../../../src/providers/index.js";
import { dataOf, waitFor } from "../../support/index.js";

const open: BreakerGate = { isOpen: () => false, admit: async () => ({ admitted: true, probe: false }) };

function candidate(provider: string, upstreamModel: string): Candidate {
  return { provider, model: `${provider}-${upstreamModel}`, upstreamModel, score: 1, reason: "test" };
}

/** The slow fault holds the primary's answer for 5 s; the hedge deadline is far shorter. */
const SLOW_MS = 5_000;

describe("hedged requests against the mock provider", () => {
  let mock: MockProvider;
  let providers: ProviderRegistry;
  let holdSecondChunk = false;
  let resumeHeld: (() => void) | undefined;

  before(async () => {
    mock = await startMockProvider({
      chunks: 4,
      slowDelayMs: SLOW_MS,
      // Holds a stream after its first chunk while a test sets `holdSecondChunk`.
      beforeChunk: (index) =>
        index === 1 && holdSecondChunk
          ? new Promise<void>((resolve) => {
              resumeHeld = resolve;
            })
          : undefined,
    });
    providers = createProviderRegistry([
      createOpenAiAdapter({ name: "primary", baseUrl: mock.url }),
      createOpenAiAdapter({ name: "backup", baseUrl: mock.url }),
    ]);
  });
  after(async () => {
    await providers.closeAll();
    await mock.close();
  });

  async function run(
    candidates: Candidate[],
    stream: boolean,
    hedge: HedgeSettings,
    grant: HedgeGrant = { granted: true },
  ) {
    const recorded: AttemptRecord[] = [];
    const sent: ChatCompletionChunk[] = [];
    const settled: (AttemptRecord | undefined)[] = [];
    const outcome = await executeCandidates(
      {
        requestId: "req_hedge",
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
        policy: executionPolicy({ timeToFirstTokenMs: 20_000, idleMs: 20_000, totalMs: 30_000 }),
        clock: systemClock,
        random: () => 0.5,
        hedge,
      },
      {
        async recordAttempt(record) {
          recorded.push(record);
          return record;
        },
        sendChunk: (chunk) => sent.push(chunk),
        reserveHedge: async () => grant,
        settleHedge: async (_ticket, extra) => {
          settled.push(extra);
        },
      },
    );
    return { outcome, recorded, sent, settled };
  }

  for (const stream of [false, true]) {
    const mode = stream ? "streaming" : "plain";

    it(`${mode}: a primary without a token by the deadline is hedged; the hedge wins`, async () => {
      const started = Date.now();
      const { outcome, recorded, sent } = await run(
        [candidate("primary", "mock-fault-slow"), candidate("backup", "mock-small")],
        stream,
        { policy: { afterMs: 200 } },
      );
      assert.ok(Date.now() - started < SLOW_MS, "the answer did not wait for the slow primary");
      assert.equal(outcome.status, "succeeded");
      assert.equal(outcome.attempt.data.provider, "backup");
      assert.deepEqual(outcome.attempt.data.hedge, {
        role: "hedge",
        afterMs: 200,
        basis: "fixed",
        outcome: "won",
        pairedWith: 1,
      });
      const lost = dataOf(
        recorded.find((r) => r.data.attempt === 1),
        "attempt.failed",
      );
      assert.equal(lost.errorClass, "hedge_lost");
      assert.equal(lost.final, false);
      assert.deepEqual(lost.hedge, {
        role: "primary",
        afterMs: 200,
        basis: "fixed",
        outcome: "lost",
        pairedWith: 2,
      });
      if (stream) assert.ok(sent.length > 0 && sent.every((c) => c.model === "mock-small"));
    });

    it(`${mode}: the loser's HTTP call is cancelled and billed with an estimate, flagged`, async () => {
      const before = mock.abandoned;
      const { recorded, settled } = await run(
        [candidate("primary", "mock-fault-slow"), candidate("backup", "mock-small")],
        stream,
        { policy: { afterMs: 200 } },
      );
      await waitFor(() => mock.abandoned > before, { what: "the mock to see the loser's connection closed" });
      const lost = dataOf(
        recorded.find((r) => r.data.attempt === 1),
        "attempt.failed",
      );
      assert.equal(lost.usageEstimated, true);
      assert.ok((lost.usage?.promptTokens ?? 0) > 0, "the prompt the loser was sent is billed");
      assert.equal(settled.length, 1);
      assert.equal(
        settled[0],
        recorded.find((r) => r.data.attempt === 1),
      );
    });
  }

  it("a fast primary is never hedged, and its record keeps the deadline", async () => {
    const { outcome, recorded, settled } = await run(
      [candidate("primary", "mock-small"), candidate("backup", "mock-small")],
      false,
      { policy: { afterMs: 2_000 } },
    );
    assert.equal(recorded.length, 1);
    assert.equal(outcome.attempt.data.provider, "primary");
    assert.deepEqual(outcome.attempt.data.hedge, {
      role: "primary",
      afterMs: 2_000,
      basis: "fixed",
      outcome: "not_needed",
    });
    assert.equal(settled.length, 0);
  });

  it("a stream whose first chunk reached the client is not hedged however long it then takes", async () => {
    holdSecondChunk = true;
    const held = run([candidate("primary", "mock-small"), candidate("backup", "mock-small")], true, {
      policy: { afterMs: 100 },
    });
    const resume = await waitFor(() => resumeHeld, {
      what: "the mock to hold the stream after its first chunk",
    });
    // Proving that nothing starts takes waiting: four deadlines with only the first chunk sent.
    await sleep(400);
    assert.equal(mock.inFlight, 1, "no hedge was started");
    holdSecondChunk = false;
    resume();
    const { outcome, recorded, sent } = await held;
    assert.ok(sent.length > 1);
    assert.equal(recorded.length, 1);
    assert.equal(outcome.attempt.data.hedge?.outcome, "not_needed");
  });

  it("when the tenant's cap refuses, no hedge starts and the primary records why", async () => {
    const { outcome, recorded } = await run(
      [candidate("primary", "mock-fault-slow"), candidate("backup", "mock-small")],
      false,
      { policy: { afterMs: 100 } },
      { granted: false, reason: "max_extra_cost_per_day" },
    );
    assert.equal(recorded.length, 1);
    assert.equal(outcome.attempt.data.provider, "primary");
    assert.deepEqual(outcome.attempt.data.hedge, {
      role: "primary",
      afterMs: 100,
      basis: "fixed",
      outcome: "declined",
      declined: "max_extra_cost_per_day",
    });
  });
});
