import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AttemptRecord, ConcurrencyPools, executeCandidates } from "../../../src/execution/index.js";
import { dataOf, VirtualClock } from "../../support/index.js";
import { candidate, fail, gate, hang, harness, ok, scriptedAdapter, stream } from "./fakes.js";

/** Compact view of the recorded attempts: provider:outcome[:next]. */
function summary(records: AttemptRecord[]): string[] {
  return records.map((r) =>
    r.type === "attempt.succeeded"
      ? `${r.data.attempt} ${r.data.provider} ok`
      : `${r.data.attempt} ${r.data.provider} ${r.data.errorClass} ${r.data.next}${r.data.final ? " final" : ""}`,
  );
}

describe("executeCandidates", () => {
  it("records one succeeded attempt when the first candidate answers", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [ok("hello", 40)]);
    const h = harness(clock, [a.adapter], [candidate("a"), candidate("b")]);
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "succeeded");
    assert.deepEqual(summary(h.recorded), ["1 a ok"]);
    const data = h.recorded[0]!.data;
    assert.equal(data.durationMs, 40);
    assert.equal(data.candidate, 0);
    assert.equal(data.startedAt, new Date(Date.UTC(2026, 0, 1)).toISOString());
    assert.deepEqual(a.calls, ["a-model-up"]);
  });

  it("retries a 500 on the same candidate after a full-jitter backoff", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("server_error", { providerStatus: 500 }), ok()]);
    const h = harness(clock, [a.adapter], [candidate("a")], { random: () => 0.5 });
    const started = clock.now();
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "succeeded");
    assert.deepEqual(summary(h.recorded), ["1 a server_error retry", "2 a ok"]);
    const [first, second] = h.recorded;
    assert.equal(dataOf(first, "attempt.failed").retryDelayMs, 125); // 0.5 × 250
    assert.equal(dataOf(first, "attempt.failed").providerStatus, 500);
    assert.equal(second!.data.retryOf, 1);
    assert.equal(second!.data.backoffMs, 125);
    assert.equal(clock.now() - started, 125 + 10);
  });

  it("waits at least the provider's retry-after before retrying a 429", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("rate_limited", { retryAfterMs: 1000 }), ok()]);
    const h = harness(clock, [a.adapter], [candidate("a")]);
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(h.recorded[1]!.data.backoffMs, 1000);
    assert.equal(dataOf(h.recorded[0], "attempt.failed").retryAfterMs, 1000);
  });

  it("fails over at once when retry-after exceeds maxRetryAfterMs", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("rate_limited", { retryAfterMs: 60_000 })]);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")]);
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a rate_limited failover", "2 b ok"]);
    assert.equal(h.recorded[1]!.data.backoffMs, undefined);
  });

  it("fails over after the same-candidate retries, and the last failure is final", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("overloaded"), fail("overloaded")]);
    const b = scriptedAdapter("b", clock, [fail("server_error"), fail("timeout")]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")]);
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "failed");
    assert.deepEqual(summary(h.recorded), [
      "1 a overloaded retry",
      "2 a overloaded failover",
      "3 b server_error retry",
      "4 b timeout none final",
    ]);
    assert.equal(outcome.attempt.data.attempt, 4);
  });

  it("fails over on a context-window error without retrying the same candidate", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("context_window")]);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")]);
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a context_window failover", "2 b ok"]);
  });

  it("stops on a non-retryable error even when candidates remain", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("bad_request")]);
    const b = scriptedAdapter("b", clock, []);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")]);
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "failed");
    assert.deepEqual(summary(h.recorded), ["1 a bad_request none final"]);
    assert.equal(outcome.attempt.data.error.code, "BL_PROVIDER_BAD_REQUEST");
  });

  it("stops when the request's attempt budget is spent", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("server_error"), fail("server_error")]);
    const b = scriptedAdapter("b", clock, []);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], {
      policy: { maxAttempts: 2 },
    });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a server_error retry", "2 a server_error none final"]);
  });

  it("fails over instead of retrying when the backoff budget would be exceeded", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("server_error")]);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], {
      policy: { maxTotalBackoffMs: 100 },
    });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a server_error failover", "2 b ok"]);
  });

  it("streams: fails over transparently when nothing reached the client", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("server_error")]);
    const b = scriptedAdapter("b", clock, [stream(["x", "y"], 5, "ok")]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], {
      stream: true,
      policy: { retriesPerCandidate: 0 },
    });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "succeeded");
    assert.deepEqual(h.sent, [
      { text: "x", attempt: 2 },
      { text: "y", attempt: 2 },
    ]);
  });

  it("streams: a cut after chunks were sent is final, never failed over, and its usage is estimated", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [stream(["abcd", "efgh"], 5, "cut")]);
    const b = scriptedAdapter("b", clock, []);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], { stream: true });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.status, "failed");
    const data = outcome.attempt.type === "attempt.failed" ? outcome.attempt.data : undefined;
    assert.equal(data?.errorClass, "stream_interrupted");
    assert.equal(data?.error.code, "BL_STREAM_INTERRUPTED");
    assert.equal(data?.chunksSent, 2);
    assert.equal(data?.final, true);
    assert.equal(data?.usageEstimated, true);
    // Counted with the candidate's tokenizer ("a-model-up" is not an OpenAI model: the
    // approximation, cl100k × 1.45 rounded up). "abcdefgh" is 1 cl100k token → 2; the prompt
    // is 3 priming + 3 framing + "user" (1) + "12345678" (3) = 10 → 15.
    assert.deepEqual(data?.usage, { promptTokens: 15, completionTokens: 2, cachedTokens: 0 });
  });

  it("times out a stream that sends no first token, then retries", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [hang, ok()]);
    const h = harness(clock, [a.adapter], [candidate("a")], { stream: true });
    await clock.run(executeCandidates(h.input, h.hooks));
    const first = h.recorded[0]!;
    assert.equal(first.type === "attempt.failed" && first.data.errorClass, "timeout");
    assert.match(
      first.type === "attempt.failed" ? first.data.error.message : "",
      /time-to-first-token timeout of 1000 ms/,
    );
    assert.equal(first.data.durationMs, 1000);
  });

  it("ends a stream that goes idle after chunks with a typed error", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [stream(["abcd"], 5, "hang")]);
    const h = harness(clock, [a.adapter], [candidate("a"), candidate("b")], { stream: true });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    const data = outcome.attempt.type === "attempt.failed" ? outcome.attempt.data : undefined;
    assert.equal(data?.errorClass, "stream_interrupted");
    assert.match(data?.error.message ?? "", /idle timeout of 500 ms/);
    assert.equal(data?.durationMs, 505);
  });

  it("bounds a plain call by the total timeout", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [hang]);
    const h = harness(clock, [a.adapter], [candidate("a")], { policy: { retriesPerCandidate: 0 } });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.attempt.data.durationMs, 5000);
    assert.match(
      outcome.attempt.type === "attempt.failed" ? outcome.attempt.data.error.message : "",
      /total timeout/,
    );
  });

  it("skips an open breaker and says so on the next attempt", async () => {
    const clock = new VirtualClock();
    const b = scriptedAdapter("b", clock, [ok()]);
    const a = scriptedAdapter("a", clock, []);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], {
      breakers: gate({ a: { admitted: false, reason: "circuit_open" } }),
    });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 b ok"]);
    assert.deepEqual(h.recorded[0]!.data.skipped, [
      { provider: "a", model: "a-model", reason: "circuit_open" },
    ]);
    assert.equal(h.recorded[0]!.data.candidate, 1);
  });

  it("marks a half-open probe, and skips a half-open breaker without a probe slot", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, []);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], {
      breakers: gate({ a: { admitted: false, reason: "probe_limit" }, b: { admitted: true, probe: true } }),
    });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(h.recorded[0]!.data.probe, true);
    assert.equal(h.recorded[0]!.data.skipped?.[0]?.reason, "probe_limit");
  });

  it("records one final circuit_open attempt when every candidate is skipped", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, []);
    const h = harness(clock, [a.adapter], [candidate("a"), candidate("gone")], {
      breakers: gate({ a: { admitted: false, reason: "circuit_open" } }),
    });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 gone circuit_open none final"]);
    assert.equal(
      outcome.attempt.type === "attempt.failed" && outcome.attempt.data.error.code,
      "BL_CIRCUIT_OPEN",
    );
    assert.deepEqual(
      outcome.attempt.data.skipped?.map((s) => s.reason),
      ["circuit_open", "not_configured"],
    );
  });

  it("fails over with a backpressure attempt when the pool's queue is full", async () => {
    const clock = new VirtualClock();
    const pools = new ConcurrencyPools(
      () => ({ maxConcurrent: 1, maxQueued: 0, queueTimeoutMs: 100 }),
      clock,
    );
    const held = await pools.acquire("a", "a-model");
    const a = scriptedAdapter("a", clock, []);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], { pools });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a backpressure failover", "2 b ok"]);
    assert.equal(dataOf(h.recorded[0], "attempt.failed").error.code, "BL_PROVIDER_BACKPRESSURE");
    held();
  });

  it("gives a probe slot back when the probe never reached the provider (pool refused it)", async () => {
    const clock = new VirtualClock();
    const pools = new ConcurrencyPools(
      () => ({ maxConcurrent: 1, maxQueued: 0, queueTimeoutMs: 100 }),
      clock,
    );
    const held = await pools.acquire("a", "a-model");
    const released: Array<{ provider: string; lease: number }> = [];
    const breakers = {
      ...gate({ a: { admitted: true, probe: true, lease: 42 } }),
      releaseProbe: async (provider: string, _model: string, lease: number) => {
        released.push({ provider, lease });
      },
    };
    const a = scriptedAdapter("a", clock, []);
    const b = scriptedAdapter("b", clock, [ok()]);
    const h = harness(clock, [a.adapter, b.adapter], [candidate("a"), candidate("b")], { pools, breakers });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a backpressure failover", "2 b ok"]);
    assert.deepEqual(released, [{ provider: "a", lease: 42 }]);
    held();
  });

  it("keeps a probe slot whose call reached the provider (its outcome closes or reopens the breaker)", async () => {
    const clock = new VirtualClock();
    const released: string[] = [];
    const breakers = {
      ...gate({ a: { admitted: true, probe: true, lease: 7 } }),
      releaseProbe: async (provider: string) => {
        released.push(provider);
      },
    };
    const a = scriptedAdapter("a", clock, [ok()]);
    const h = harness(clock, [a.adapter], [candidate("a")], { breakers });
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["1 a ok"]);
    assert.deepEqual(released, []);
  });

  it("refuses a queued caller after the pool's wait timeout, and hands a freed slot to the first waiter", async () => {
    const clock = new VirtualClock();
    const pools = new ConcurrencyPools(
      () => ({ maxConcurrent: 1, maxQueued: 2, queueTimeoutMs: 100 }),
      clock,
    );
    const held = await pools.acquire("a", "m");
    const timedOut = pools.acquire("a", "m");
    await assert.rejects(clock.run(timedOut), /no slot freed within 100 ms/);
    const waiting = pools.acquire("a", "m");
    assert.deepEqual(pools.usage("a", "m"), { inFlight: 1, queued: 1 });
    held();
    const release = await clock.run(waiting);
    assert.deepEqual(pools.usage("a", "m"), { inFlight: 1, queued: 0 });
    release();
    release();
    assert.deepEqual(pools.usage("a", "m"), { inFlight: 0, queued: 0 });
  });

  it("returns a stored outcome without calling any provider", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, []);
    const stored: AttemptRecord = {
      type: "attempt.succeeded",
      data: {
        attempt: 1,
        provider: "a",
        model: "a-model",
        upstreamModel: "a-model-up",
        startedAt: "2026-01-01T00:00:00.000Z",
        durationMs: 5,
        streamed: false,
        timeToFirstTokenMs: 5,
        usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
        completion: { id: "x", object: "chat.completion", created: 0, model: "x", choices: [] },
      },
    };
    const h = harness(clock, [a.adapter], [candidate("a")], { stored: [stored] });
    const outcome = await clock.run(executeCandidates(h.input, h.hooks));
    assert.equal(outcome.attempt, stored);
    assert.equal(h.recorded.length, 0);
  });

  it("resumes after a crash by following the stored attempt's decision", async () => {
    const clock = new VirtualClock();
    const first = (await (async () => {
      const c = new VirtualClock();
      const a = scriptedAdapter("a", c, [fail("server_error")]);
      const h = harness(c, [a.adapter], [candidate("a")], { policy: { maxAttempts: 1 } });
      await c.run(executeCandidates(h.input, h.hooks)).catch(() => undefined);
      return {
        ...h.recorded[0]!,
        data: { ...h.recorded[0]!.data, final: false, next: "retry", retryDelayMs: 77 },
      };
    })()) as AttemptRecord;
    const a = scriptedAdapter("a", clock, [ok()]);
    const h = harness(clock, [a.adapter], [candidate("a")], { stored: [first] });
    const started = clock.now();
    await clock.run(executeCandidates(h.input, h.hooks));
    assert.deepEqual(summary(h.recorded), ["2 a ok"]);
    assert.equal(h.recorded[0]!.data.retryOf, 1);
    assert.equal(clock.now() - started, 77 + 10);
  });

  it("adopts what another delivery stored first in the same slot", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [fail("server_error")]);
    const h = harness(clock, [a.adapter], [candidate("a"), candidate("b")]);
    const theirs: AttemptRecord = {
      type: "attempt.failed",
      data: {
        attempt: 1,
        provider: "a",
        model: "a-model",
        upstreamModel: "a-model-up",
        startedAt: "2026-01-01T00:00:00.000Z",
        durationMs: 1,
        streamed: false,
        errorClass: "bad_request",
        error: {
          code: "BL_PROVIDER_BAD_REQUEST",
          message: "no",
          httpStatus: 400,
          type: "invalid_request_error",
        },
        retryable: false,
        final: true,
        chunksSent: 0,
      },
    };
    const outcome = await clock.run(
      executeCandidates(h.input, { ...h.hooks, recordAttempt: async () => theirs }),
    );
    assert.equal(outcome.attempt, theirs);
  });

  it("rejects with the caller's abort reason and records nothing for the interrupted call", async () => {
    const clock = new VirtualClock();
    const a = scriptedAdapter("a", clock, [hang]);
    const h = harness(clock, [a.adapter], [candidate("a")]);
    const controller = new AbortController();
    clock.setTimeout(() => controller.abort(new Error("client went away")), 50);
    await assert.rejects(
      clock.run(executeCandidates(h.input, { ...h.hooks, signal: controller.signal })),
      /client went away/,
    );
    assert.equal(h.recorded.length, 0);
  });
});
