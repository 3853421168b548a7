import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import Fastify, { type FastifyInstance } from "fastify";
import { chooseContentCoding, isCompressible, registerCompression } from "../../src/gateway/compression.js";

describe("choosing a content coding from Accept-Encoding", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ["", undefined],
    ["identity", undefined],
    ["gzip", "gzip"],
    ["br", "br"],
    ["br, gzip", "gzip"],
    ["gzip;q=0.1, br;q=1", "gzip"],
    ["GZip", "gzip"],
    ["gzip;q=0, br", "br"],
    ["gzip; q=0 , br;q=0", undefined],
    ["*", "gzip"],
    ["*;q=0", undefined],
    ["*, gzip;q=0", "br"],
    ["deflate", undefined],
    ["gzip;q=abc", undefined],
    [" , gzip", "gzip"],
  ];
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${expected ?? "as it is"}`, () => {
      assert.equal(chooseContentCoding(header), expected);
    });
  }
});

describe("compressible media types", () => {
  it("are JSON, JavaScript, XML and text, never an event stream or binary", () => {
    for (const type of [
      "application/json",
      "application/json; charset=utf-8",
      "application/problem+json",
      "text/html; charset=utf-8",
      "text/javascript",
      "text/css",
      "text/plain",
      "application/javascript",
    ]) {
      assert.ok(isCompressible(type), type);
    }
    for (const type of [
      "text/event-stream",
      "text/event-stream; charset=utf-8",
      "application/x-ndjson",
      "application/octet-stream",
      "image/png",
      "application/jsonl",
    ]) {
      assert.ok(!isCompressible(type), type);
    }
  });
});

describe("the compression hook", () => {
  let app: FastifyInstance;
  const big = { items: Array.from({ length: 200 }, (_, i) => ({ id: `item-${i}`, text: "lorem ipsum" })) };

  before(async () => {
    app = Fastify();
    registerCompression(app, { minBytes: 1_024 });
    app.get("/big", async () => big);
    app.get("/small", async () => ({ ok: true }));
    app.get("/stream", async (_request, reply) =>
      reply.header("content-type", "application/x-ndjson").send(Readable.from(["{}\n", "{}\n"])),
    );
    app.get("/png", async (_request, reply) =>
      reply.header("content-type", "image/png").send(Buffer.alloc(4_096, 7)),
    );
    app.get("/vary-set", async (_request, reply) => reply.header("vary", "origin").send(big));
    await app.ready();
  });
  after(() => app.close());

  it("sends a large JSON answer gzipped, with a correct length, varying by Accept-Encoding", async () => {
    const answer = await app.inject({ url: "/big", headers: { "accept-encoding": "gzip, br" } });
    assert.equal(answer.headers["content-encoding"], "gzip");
    assert.equal(answer.headers["vary"], "accept-encoding");
    assert.equal(Number(answer.headers["content-length"]), answer.rawPayload.length);
    assert.deepEqual(JSON.parse(gunzipSync(answer.rawPayload).toString("utf8")), big);
  });

  it("sends brotli to a client that accepts only that", async () => {
    const answer = await app.inject({ url: "/big", headers: { "accept-encoding": "br" } });
    assert.equal(answer.headers["content-encoding"], "br");
    assert.deepEqual(JSON.parse(brotliDecompressSync(answer.rawPayload).toString("utf8")), big);
  });

  it("sends the body as it is to a client that accepts no coding, still varying", async () => {
    const answer = await app.inject({ url: "/big" });
    assert.equal(answer.headers["content-encoding"], undefined);
    assert.equal(answer.headers["vary"], "accept-encoding");
    assert.deepEqual(answer.json(), big);
  });

  it("leaves small answers, streams and binary types alone", async () => {
    for (const url of ["/small", "/stream", "/png"]) {
      const answer = await app.inject({ url, headers: { "accept-encoding": "gzip" } });
      assert.equal(answer.headers["content-encoding"], undefined, url);
      assert.equal(answer.headers["vary"], undefined, url);
    }
    const stream = await app.inject({ url: "/stream", headers: { "accept-encoding": "gzip" } });
    assert.equal(stream.payload, "{}\n{}\n");
  });

  it("adds to a Vary the route set", async () => {
    const answer = await app.inject({ url: "/vary-set", headers: { "accept-encoding": "gzip" } });
    assert.equal(answer.headers["vary"], "origin, accept-encoding");
    assert.equal(answer.headers["content-encoding"], "gzip");
  });
});
