import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { BeamlineError, ErrorCodes } from "../../src/errors/index.js";

/** The code table of docs/errors.md: code → [HTTP status, type, consumer handling]. */
function documentedCodes(): Map<string, [number, string, string]> {
  const text = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = new Map<string, [number, string, string]>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const code = cells[1] ?? "";
    if (!/^BL_[A-Z_]+$/.test(code)) continue;
    assert.ok(!rows.has(code), `docs/errors.md lists ${code} twice`);
    rows.set(code, [Number(cells[2]), cells[3] ?? "", cells[4] ?? ""]);
  }
  return rows;
}

describe("the error code registry", () => {
  it("is documented code for code in docs/errors.md, with the same status, type and handling", () => {
    const documented = documentedCodes();
    assert.deepEqual([...documented.keys()].sort(), Object.keys(ErrorCodes).sort());
    for (const [code, spec] of Object.entries(ErrorCodes)) {
      assert.deepEqual(documented.get(code), [spec.httpStatus, spec.type, spec.handling], code);
    }
  });

  it("gives every BeamlineError its code's status and handling", () => {
    const error = new BeamlineError("BL_NATS_PUBLISH_FAILED", "maximum message size exceeded");
    assert.equal(error.httpStatus, 500);
    assert.equal(error.handling, "retry");
    assert.equal(error.type, "api_error");
  });
});
