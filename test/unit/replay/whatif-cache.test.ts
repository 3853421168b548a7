import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type CacheFacts, CacheWhatIf } from "../../../replay/index.js";
import { type CachePolicy, cachePolicySchema } from "../../../src/cache/index.js";
import type { ChatRequest } from "../../../src/chat/wire.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const exact = (section: Partial<CachePolicy> = {}): CachePolicy =>
  cachePolicySchema.parse({ mode: "exact", ttlSeconds: 60, ...section });
/** `temperature` null: unset (counts as sampling). */
const ask = (content: string, temperature: number | null = 0): ChatRequest =>
  ({
    model: "auto",
    messages: [{ role: "user", content }],
    ...(temperature === null ? {} : { temperature }),
  }) as ChatRequest;

/** A request accepted at `second`, completed a second later, that cost 1000 nano-USD. */
function facts(second: number, request: ChatRequest | undefined, more: Partial<CacheFacts> = {}): CacheFacts {
  return {
    requestId: `r${second}`,
    acceptedAt: at(second),
    completedAt: at(second + 1),
    caller: "key-1",
    request,
    model: "small",
    control: undefined,
    costNanoUsd: 1000,
    ...more,
  };
}

function run(
  policy: CachePolicy,
  all: CacheFacts[],
  contentStore: "encrypted" | "hashes" | "none" = "encrypted",
) {
  const whatIf = new CacheWhatIf("acme", policy, contentStore);
  for (const f of all) whatIf.add(f);
  return whatIf.report();
}

describe("cache what-if", () => {
  it("given identical temperature-0 requests within the TTL, then the repeats are hits and save their cost", () => {
    const report = run(exact(), [facts(0, ask("hi")), facts(10, ask("hi")), facts(20, ask("hi"))]);
    assert.equal(report.hits, 2);
    assert.equal(report.misses, 1);
    assert.equal(report.savedNanoUsd, 2000);
  });

  it("given a repeat after the TTL (counted from the answer's storing), then it misses and stores again", () => {
    // stored at 1 s, expires at 61 s; 60 s hits, 62 s misses, 70 s hits the entry stored at 63 s
    const report = run(exact(), [
      facts(0, ask("hi")),
      facts(60, ask("hi")),
      facts(62, ask("hi")),
      facts(70, ask("hi")),
    ]);
    assert.deepEqual([report.hits, report.misses], [2, 2]);
  });

  it("given a repeat accepted before the first answer was stored, then it misses (no coalescing)", () => {
    const report = run(exact(), [facts(0, ask("hi")), { ...facts(0, ask("hi")), requestId: "same-time" }]);
    assert.deepEqual([report.hits, report.misses], [0, 2]);
  });

  it("given a failed first request, then nothing was stored to hit", () => {
    const failed = facts(0, ask("hi"));
    delete failed.completedAt;
    const report = run(exact(), [failed, facts(10, ask("hi"))]);
    assert.deepEqual([report.hits, report.misses], [0, 2]);
  });

  it("given a billing discount, then a hit saves only the discounted share", () => {
    const report = run(exact({ billing: { discountPercent: 40 } }), [
      facts(0, ask("hi")),
      facts(5, ask("hi")),
    ]);
    assert.equal(report.savedNanoUsd, 400);
    assert.equal(report.policy.discountPercent, 40);
  });

  it("counts the requests that cannot use the cache, by reason", () => {
    const sampled = run(exact(), [
      facts(0, ask("hi", 0.7)),
      facts(5, ask("hi", 0.7)),
      facts(9, ask("hi", null)),
    ]);
    assert.deepEqual(sampled.notCacheable, { sampled: 3, content_store: 0, bypass_header: 0 });
    assert.equal(sampled.hits, 0);
    const included = run(exact({ includeNonDeterministic: true }), [
      facts(0, ask("hi", 0.7)),
      facts(5, ask("hi", 0.7)),
    ]);
    assert.equal(included.hits, 1);
    const hashes = run(exact(), [facts(0, ask("hi")), facts(5, ask("hi"))], "hashes");
    assert.deepEqual(hashes.notCacheable, { sampled: 0, content_store: 2, bypass_header: 0 });
    const bypass = run(exact(), [
      facts(0, ask("hi")),
      facts(5, ask("hi"), { control: "no-cache" }),
      facts(9, ask("hi")),
    ]);
    assert.deepEqual(bypass.notCacheable, { sampled: 0, content_store: 0, bypass_header: 1 });
    assert.equal(bypass.hits, 1, "a no-cache request still stores its answer; the next one hits");
  });

  it("counts requests whose content did not open as unknown, never as a hit or a miss", () => {
    const report = run(exact(), [facts(0, ask("hi")), facts(5, undefined), facts(9, ask("hi"))]);
    assert.deepEqual([report.requests, report.hits, report.misses, report.unknown], [3, 1, 1, 1]);
  });

  it("keeps key-scoped entries apart per caller", () => {
    const other = facts(5, ask("hi"), { caller: "key-2" });
    assert.equal(run(exact({ scope: "key" }), [facts(0, ask("hi")), other]).hits, 0);
    assert.equal(run(exact({ scope: "tenant" }), [facts(0, ask("hi")), other]).hits, 1);
  });

  it("never reports more hits and misses than looked-up requests, whatever the history", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ gap: fc.nat(120), prompt: fc.constantFrom("a", "b"), t: fc.constantFrom(0, 0.5) }),
          {
            maxLength: 40,
          },
        ),
        (steps) => {
          let second = 0;
          const all = steps.map((s) => {
            second += s.gap;
            return facts(second, ask(s.prompt, s.t));
          });
          const report = run(exact(), all);
          const notCacheable = Object.values(report.notCacheable).reduce((a, b) => a + b, 0);
          assert.equal(report.hits + report.misses + notCacheable + report.unknown, all.length);
          assert.equal(report.savedNanoUsd, report.hits * 1000);
        },
      ),
    );
  });
});
