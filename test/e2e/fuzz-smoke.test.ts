import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runFuzz } from "../support/fuzz.js";

const ADMIN_TOKEN = "fuzz-smoke-admin-token-0123";
const CASES = 5_000;

describe("fuzzing the doors (smoke: 5,000 cases; `npm run fuzz` runs 100,000)", () => {
  let beamline: TestBeamline;
  before(async () => {
    // The fuzz run is about input handling, not overload: a machine saturated by the run itself
    // may take longer than the gateway's 2 s append bound to store a megabyte body (a 503 that is
    // correct there), and wrong admin tokens are the point here, so the failure limiter (tested
    // in operator-surfaces) must not turn the admin cases into 429s.
    beamline = await startTestBeamline({
      adminToken: ADMIN_TOKEN,
      logLevel: "warn",
      availability: { appendTimeoutMs: 30_000 },
      operatorAuth: { failureBurst: 1_000_000 },
    });
  });
  after(async () => {
    await beamline.stop();
  });

  it("answers every case without a 5xx or a crash, each rejection a 4xx with a documented BL code", async () => {
    const summary = await runFuzz({
      baseUrl: beamline.baseUrl,
      credentials: { devKey: beamline.devKey, adminToken: ADMIN_TOKEN },
      cases: CASES,
    });
    const report = JSON.stringify({ ...summary, examples: summary.examples.slice(0, 5) }, null, 2);
    assert.equal(summary.cases, CASES, report);
    assert.equal(summary.violations, 0, report);
    assert.equal(summary.serverErrors, 0, report);
    assert.equal(summary.crashes, 0, report);
    // The run exercised the rejections it is about, not only happy paths.
    for (const code of ["BL_BAD_REQUEST", "BL_MALFORMED_JSON", "BL_MALFORMED_HTTP", "BL_EVENT_INVALID"]) {
      assert.ok((summary.rejectionsByCode[code] ?? 0) > 0, `no ${code} seen:\n${report}`);
    }
  });
});
