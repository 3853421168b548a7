import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { StreamNames } from "../../src/nats/names.js";
import { startTestBeamline, streamMessageCount, type TestBeamline } from "../support/beamline.js";

const MAX_BODY_BYTES = 4096;
const goodBody = { model: "mock-small", messages: [{ role: "user", content: "still there?" }] };

interface Answer {
  status: number;
  body: unknown;
}

describe("the gateway's answers to bad requests", { timeout: 40_000 }, () => {
  let beamline: TestBeamline;

  before(async () => {
    beamline = await startTestBeamline({ maxBodyBytes: MAX_BODY_BYTES });
  });
  after(() => beamline?.stop());

  async function post(body: string, headers: Record<string, string>): Promise<Answer> {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers,
      body,
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Left as text: the assertion on the shape then says what came back.
    }
    return { status: response.status, body: parsed };
  }

  const withKey = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${beamline.devKey}`,
    "content-type": "application/json",
    ...extra,
  });

  /**
   * Sends a bad request and checks the OpenAI-shaped error, that nothing reached the request
   * log, and that the gateway still answers a good request right after.
   */
  async function expectRefusal(
    request: { body: string; headers: Record<string, string> },
    expected: { status: number; code: string; type: string; param: string | null },
  ): Promise<string> {
    const before = await streamMessageCount(beamline.nc, StreamNames.requests);
    const answer = await post(request.body, request.headers);
    assert.equal(answer.status, expected.status, JSON.stringify(answer.body));
    const body = answer.body as {
      error: { message: string; type: string; param: string | null; code: string };
    };
    assert.deepEqual(Object.keys(body), ["error"]);
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
    assert.deepEqual(
      { code: body.error.code, type: body.error.type, param: body.error.param },
      { code: expected.code, type: expected.type, param: expected.param },
    );
    assert.ok(body.error.message.length > 0);
    assert.equal(
      await streamMessageCount(beamline.nc, StreamNames.requests),
      before,
      "a refused request publishes nothing",
    );

    const good = await post(JSON.stringify(goodBody), withKey());
    assert.equal(good.status, 200, `the gateway keeps serving: ${JSON.stringify(good.body)}`);
    return body.error.message;
  }

  it("answers malformed JSON with 400 BL_MALFORMED_JSON", async () => {
    await expectRefusal(
      { body: '{"model": "mock-small", "messages": [', headers: withKey() },
      { status: 400, code: "BL_MALFORMED_JSON", type: "invalid_request_error", param: null },
    );
  });

  it("answers an empty JSON body with 400 BL_MALFORMED_JSON", async () => {
    await expectRefusal(
      { body: "", headers: withKey() },
      { status: 400, code: "BL_MALFORMED_JSON", type: "invalid_request_error", param: null },
    );
  });

  it("answers an unknown model with 404 BL_UNKNOWN_MODEL on param model", async () => {
    const message = await expectRefusal(
      { body: JSON.stringify({ ...goodBody, model: "gpt-9" }), headers: withKey() },
      { status: 404, code: "BL_UNKNOWN_MODEL", type: "invalid_request_error", param: "model" },
    );
    assert.match(message, /gpt-9.*GET \/v1\/models/);
  });

  it("answers a missing key with 401 BL_MISSING_API_KEY", async () => {
    await expectRefusal(
      { body: JSON.stringify(goodBody), headers: { "content-type": "application/json" } },
      { status: 401, code: "BL_MISSING_API_KEY", type: "authentication_error", param: null },
    );
  });

  it("answers a wrong key with 401 BL_INVALID_API_KEY, whether sent as bearer or x-api-key", async () => {
    const wrong = "bl-this-key-was-never-issued-0000";
    await expectRefusal(
      {
        body: JSON.stringify(goodBody),
        headers: { authorization: `Bearer ${wrong}`, "content-type": "application/json" },
      },
      { status: 401, code: "BL_INVALID_API_KEY", type: "authentication_error", param: null },
    );
    await expectRefusal(
      { body: JSON.stringify(goodBody), headers: { "x-api-key": wrong, "content-type": "application/json" } },
      { status: 401, code: "BL_INVALID_API_KEY", type: "authentication_error", param: null },
    );
  });

  it("checks the key before the body: a bad key with a malformed body is still a 401", async () => {
    await expectRefusal(
      { body: "{not json", headers: { authorization: "Bearer nope", "content-type": "application/json" } },
      { status: 401, code: "BL_INVALID_API_KEY", type: "authentication_error", param: null },
    );
  });

  it(`answers a body over maxBodyBytes (${MAX_BODY_BYTES}) with 413 BL_BODY_TOO_LARGE`, async () => {
    const oversized = JSON.stringify({
      ...goodBody,
      messages: [{ role: "user", content: "x".repeat(MAX_BODY_BYTES) }],
    });
    const message = await expectRefusal(
      { body: oversized, headers: withKey() },
      { status: 413, code: "BL_BODY_TOO_LARGE", type: "invalid_request_error", param: null },
    );
    assert.match(message, new RegExp(`${MAX_BODY_BYTES} bytes`));
  });

  it("answers a text/plain body with 415 BL_UNSUPPORTED_MEDIA_TYPE", async () => {
    await expectRefusal(
      { body: JSON.stringify(goodBody), headers: withKey({ "content-type": "text/plain" }) },
      { status: 415, code: "BL_UNSUPPORTED_MEDIA_TYPE", type: "invalid_request_error", param: null },
    );
  });

  it("answers invalid messages with 400 BL_BAD_REQUEST naming the parameter", async () => {
    await expectRefusal(
      { body: JSON.stringify({ model: "mock-small", messages: [] }), headers: withKey() },
      { status: 400, code: "BL_BAD_REQUEST", type: "invalid_request_error", param: "messages" },
    );
    await expectRefusal(
      {
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "robot", content: "beep" }] }),
        headers: withKey(),
      },
      { status: 400, code: "BL_BAD_REQUEST", type: "invalid_request_error", param: "messages.0.role" },
    );
    await expectRefusal(
      { body: JSON.stringify({ ...goodBody, temperature: 3 }), headers: withKey() },
      { status: 400, code: "BL_BAD_REQUEST", type: "invalid_request_error", param: "temperature" },
    );
  });

  it("answers a JSON body that is not an object with 400 BL_BAD_REQUEST", async () => {
    await expectRefusal(
      { body: JSON.stringify([goodBody]), headers: withKey() },
      { status: 400, code: "BL_BAD_REQUEST", type: "invalid_request_error", param: null },
    );
  });

  it("answers an unknown endpoint with 404 BL_NOT_FOUND in the same shape", async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/images/generations`, {
      method: "POST",
      headers: withKey(),
      body: "{}",
    });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, "BL_NOT_FOUND");
  });
});
