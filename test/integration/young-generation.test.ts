import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const module = new URL("../../src/runtime/young-generation.ts", import.meta.url).href;

/**
 * The largest young generation (MB, both semi-spaces) of a child process that holds growth,
 * then caps it at `capMb` (0: V8's rule) and churns objects of which a third survive a while,
 * in 400 short turns of the event loop (so the cap's watcher runs between them, as between a
 * router's requests). Bounded: 400 × 5,000 objects, at most ~200,000 kept.
 */
async function youngGenerationPeakMb(capMb: number): Promise<number> {
  const code = `
    const { capYoungGeneration, holdYoungGeneration, youngGenerationBytes } = await import(${JSON.stringify(module)});
    holdYoungGeneration();
    capYoungGeneration(${capMb});
    const kept = [];
    let peak = 0;
    for (let turn = 0; turn < 400; turn++) {
      for (let i = 0; i < 5_000; i++) {
        const o = { turn, i, s: "o-" + turn + "-" + i };
        if (i % 3 === 0) kept.push(o);
      }
      if (kept.length > 200_000) kept.splice(0, 100_000);
      await new Promise((resolve) => setImmediate(resolve));
      peak = Math.max(peak, youngGenerationBytes());
    }
    process.stdout.write(String(peak / 2 ** 20));`;
  const flags = ["--import", "tsx", "--input-type=module", "-e", code];
  const { stdout } = await run(process.execPath, flags, { timeout: 120_000 });
  return Number(stdout);
}

describe("capYoungGeneration", () => {
  it("lets the young generation grow to its cap and no further", async (t) => {
    // Loading tsx leaves the child's young generation at 4 MB before it holds growth.
    const capped = await youngGenerationPeakMb(16);
    const v8Rule = await youngGenerationPeakMb(0);
    t.diagnostic(`young generation peak: ${capped} MB capped at 16, ${v8Rule} MB with V8's rule`);
    assert.ok(capped <= 16, `capped at 16 MB, it reached ${capped} MB`);
    assert.ok(capped > 8, `capped at 16 MB, it stayed at ${capped} MB: the cap held growth instead`);
    assert.ok(v8Rule > 16, `with V8's rule it reached only ${v8Rule} MB: the churn proves nothing`);
  });
});
