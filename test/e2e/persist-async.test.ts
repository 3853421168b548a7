import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readRequestHistory } from "../../replay/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";

/**
 * With BEAMLINE_PERSIST_MODE=async the request stream cannot allow atomic batches (the server
 * refuses the combination), so the worker stores the final attempt and the terminal one after
 * the other. Requests complete the same way.
 */
describe("persist mode async (no atomic batches)", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  before(async () => {
    beamline = await startTestBeamline({ persistMode: "async" });
  });
  after(() => beamline?.stop());

  it("completes a request with its final attempt and terminal stored", async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hello" }] }),
    });
    assert.equal(response.status, 200);
    const requestId = response.headers.get("x-request-id")!;
    const history = await readRequestHistory(beamline.nc, "dev", requestId);
    assert.deepEqual(
      history.map(({ event }) => event.type),
      ["request.accepted", "route.decided", "attempt.succeeded", "request.completed"],
    );
  });
});
