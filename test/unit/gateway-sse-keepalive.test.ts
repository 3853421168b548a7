import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { SSE_KEEP_ALIVE, SseResponse } from "../../src/gateway/sse-response.js";

/**
 * The SSE keep-alive of every front door's stream writer, over real HTTP: a comment while the
 * first chunk is awaited and between slow chunks, none once data flows, none after a plain answer.
 */

const KEEP_ALIVE_MS = 40;
/** The fake provider's pause: several keep-alive periods. */
const SLOW_MS = 6 * KEEP_ALIVE_MS;

describe("SSE keep-alive", () => {
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    app = Fastify();
    app.decorate("sseKeepAliveMs", KEEP_ALIVE_MS);
    app.get("/slow-stream", async (request, reply) => {
      const sse = new SseResponse(reply, String(request.id), ["x-request-id"]);
      await delay(SLOW_MS);
      sse.write("data: 1\n\n");
      await delay(SLOW_MS);
      sse.write("data: 2\n\n");
      sse.end();
    });
    app.get("/plain-error", async (request, reply) => {
      // A stream writer that never wrote: the answer goes out as plain JSON instead.
      new SseResponse(reply, String(request.id), ["x-request-id"]);
      await reply.code(503).send({ error: "not stored" });
    });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  after(() => app?.close());

  it("sends comments before the first chunk and between slow ones, and the data in order", async () => {
    const response = await fetch(`${url}/slow-stream`);
    assert.equal(response.status, 200);
    const text = await response.text();
    const [beforeFirst = "", between = "", afterLast] = text.split(/data: \d\n\n/);
    assert.ok(
      beforeFirst.length > 0 && beforeFirst.replaceAll(SSE_KEEP_ALIVE, "") === "",
      JSON.stringify(text),
    );
    assert.ok(between.length > 0 && between.replaceAll(SSE_KEEP_ALIVE, "") === "", JSON.stringify(text));
    assert.equal(afterLast, "");
    assert.ok(text.indexOf("data: 1") < text.indexOf("data: 2"));
  });

  it("leaves a plain answer alone once it is sent", async () => {
    const response = await fetch(`${url}/plain-error`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { error: "not stored" });
    // A keep-alive tick after the answer would throw on the finished reply; none may come.
    await delay(3 * KEEP_ALIVE_MS);
    const again = await fetch(`${url}/plain-error`);
    assert.equal(again.status, 503);
  });
});
