import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { jsonNestingExceeds, valueNestingExceeds } from "../../src/events/index.js";

/** The nesting depth of a parsed JSON value, counted the way the scan counts it. */
function depthOf(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe("the nesting bounds", () => {
  it("agrees with the depth of the parsed value, for any JSON text", () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 8, stringUnit: "binary" }),
        fc.integer({ min: 0, max: 8 }),
        (value, max) => {
          const text = JSON.stringify(value);
          const expected = depthOf(JSON.parse(text)) > max;
          assert.equal(jsonNestingExceeds(text, max), expected, "on the text");
          assert.equal(valueNestingExceeds(value, max), expected, "on the value");
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("does not count brackets and braces inside strings, escaped quotes included", () => {
    assert.equal(jsonNestingExceeds(JSON.stringify({ a: '\\"[[[[{{{{' }), 1), false);
    assert.equal(jsonNestingExceeds(JSON.stringify({ a: "x\\" }) + "", 1), false);
  });

  it("finds a chain 20,000 deep without recursing", () => {
    assert.equal(jsonNestingExceeds(`${'{"x":'.repeat(20_000)}1${"}".repeat(20_000)}`, 64), true);
    assert.equal(jsonNestingExceeds(`${"[".repeat(64)}${"]".repeat(64)}`, 64), false);
    let value: unknown = 1;
    for (let i = 0; i < 20_000; i++) value = [value];
    assert.equal(valueNestingExceeds(value, 128), true);
  });
});
