import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BeamlineError } from "../../src/errors/index.js";
import { decodeEvent, encodeEvent } from "../../src/events/index.js";
import { eventCases } from "../support/fuzz-cases.js";

describe("event decoding under hostile payloads", () => {
  it("yields an event that stores again, or BL_EVENT_INVALID / BL_EVENT_VERSION_UNSUPPORTED; nothing else", () => {
    fc.assert(
      fc.property(eventCases, ({ payload, contentType }) => {
        const headers = { get: (name: string) => (name === "content-type" ? (contentType ?? "") : "") };
        try {
          encodeEvent(decodeEvent(payload, headers));
        } catch (error) {
          assert.ok(error instanceof BeamlineError, `not a BeamlineError: ${String(error)}`);
          assert.match(error.code, /^BL_EVENT_(INVALID|VERSION_UNSUPPORTED)$/);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
