import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ROOT_CONTEXT, type TextMapGetter, trace } from "@opentelemetry/api";
// OpenTelemetry's own propagator, as the reference the router's codec must agree with.
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import fc from "fast-check";
import { formatTraceparent, parseTraceparent } from "../../src/observability/trace-context.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const reference = new W3CTraceContextPropagator();
const getter: TextMapGetter<Record<string, string>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

function referenceParse(value: string) {
  const context = trace.getSpanContext(reference.extract(ROOT_CONTEXT, { traceparent: value }, getter));
  return context && { traceId: context.traceId, spanId: context.spanId, traceFlags: context.traceFlags };
}

describe("traceparent (W3C Trace Context)", () => {
  it("reads a version-00 value", () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-01`), {
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: 1,
      isRemote: true,
    });
  });

  it("refuses what the spec calls invalid", () => {
    for (const value of [
      "",
      `ff-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${"0".repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${"0".repeat(16)}-01`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${SPAN_ID}-1`,
      `00-${TRACE_ID}-${SPAN_ID}-01-extra`,
      `00_${TRACE_ID}-${SPAN_ID}-01`,
      `0g-${TRACE_ID}-${SPAN_ID}-01`,
      `01-${TRACE_ID}-${SPAN_ID}-01x`,
    ]) {
      assert.equal(parseTraceparent(value), undefined, value);
    }
  });

  it("reads a later version by its first four fields", () => {
    assert.equal(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01-what-comes-next`)?.traceId, TRACE_ID);
  });

  it("writes version 00 with the flags as they came, nothing for an invalid context", () => {
    assert.equal(
      formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 3 }),
      `00-${TRACE_ID}-${SPAN_ID}-03`,
    );
    assert.equal(formatTraceparent({ traceId: "0".repeat(32), spanId: SPAN_ID, traceFlags: 1 }), undefined);
  });

  it("agrees with OpenTelemetry's propagator on any value made of traceparent's characters", (t) => {
    // Mostly valid characters, so that valid values come up as often as near misses.
    const hexish = fc.oneof(
      { weight: 200, arbitrary: fc.constantFrom(..."0123456789abcdef".split("")) },
      { weight: 1, arbitrary: fc.constantFrom("0", "F", "-", " ", "g") },
    );
    const field = (length: number) =>
      fc.oneof(
        { weight: 8, arbitrary: fc.array(hexish, { minLength: length, maxLength: length }) },
        { weight: 1, arbitrary: fc.array(hexish, { minLength: length - 1, maxLength: length + 1 }) },
      );
    const traceparent = fc
      .tuple(
        fc.constantFrom("", " ", "\t"),
        fc.constantFrom("00", "01", "ff", "0f", "0x"),
        field(32),
        field(16),
        field(2),
        fc.constantFrom("", " ", "-", "-next", "x"),
      )
      .map(
        ([space, version, traceId, spanId, flags, tail]) =>
          space + [version, traceId.join(""), spanId.join(""), flags.join("")].join("-") + tail + space,
      );
    let valid = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: traceparent }, fc.string({ maxLength: 70 })), (value) => {
        const ours = parseTraceparent(value);
        // Ours takes any whitespace around the value; theirs one character on each side.
        const theirs = referenceParse(value.trim());
        if (ours) valid++;
        assert.deepEqual(
          ours && { traceId: ours.traceId, spanId: ours.spanId, traceFlags: ours.traceFlags },
          theirs,
          JSON.stringify(value),
        );
      }),
      { numRuns: 5_000 },
    );
    t.diagnostic(`${valid} of 5,000 generated values were valid`);
    // About 1,000 are expected; far fewer would mean the generator drifted to near misses only.
    assert.ok(valid > 350, `${valid} of 5,000 values were valid: the generator tests near misses only`);
  });

  it("round-trips with OpenTelemetry's propagator", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{32}$/),
        fc.stringMatching(/^[0-9a-f]{16}$/),
        fc.integer({ min: 0, max: 255 }),
        (traceId, spanId, traceFlags) => {
          const written = formatTraceparent({ traceId, spanId, traceFlags });
          const theirs = referenceParse(written ?? "");
          if (written === undefined) assert.equal(theirs, undefined);
          else assert.deepEqual(theirs, { traceId, spanId, traceFlags });
        },
      ),
    );
  });
});
