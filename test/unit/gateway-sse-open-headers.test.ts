import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { SseResponse } from "../../src/gateway/sse-response.js";

/**
 * Headers a stream writer learns before its first byte (a streamed answer's rate limits) go out
 * with the stream's head, computed as it opens; learnt after the head is out, they are absent.
 */
const WAIT_MS = 60;

describe("headers computed when an SSE stream opens", () => {
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    app = Fastify();
    app.get("/told-before", async (request, reply) => {
      const sse = new SseResponse(reply, String(request.id), ["x-request-id"]);
      const toldAt = Date.now();
      sse.headersAtOpen(() => ({ "x-computed-after-ms": String(Date.now() - toldAt) }));
      await delay(WAIT_MS);
      sse.write("data: 1\n\n");
      sse.end();
    });
    app.get("/told-after", async (request, reply) => {
      const sse = new SseResponse(reply, String(request.id), ["x-request-id"]);
      sse.write("data: 1\n\n");
      sse.headersAtOpen(() => ({ "x-too-late": "1" }));
      sse.write("data: 2\n\n");
      sse.end();
    });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  after(() => app?.close());

  it("go out with the first write, computed at that moment", async () => {
    const response = await fetch(`${url}/told-before`);
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.ok(Number(response.headers.get("x-computed-after-ms")) >= WAIT_MS - 5);
    assert.equal(await response.text(), "data: 1\n\n");
  });

  it("are simply absent when learnt after the stream opened", async () => {
    const response = await fetch(`${url}/told-after`);
    assert.equal(response.headers.get("x-too-late"), null);
    assert.equal(await response.text(), "data: 1\n\ndata: 2\n\n");
  });
});
