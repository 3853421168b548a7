import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { STREAM_BODY, sseChatTarget } from "../../bench/sse-target.js";
import { type MockProvider, startMockProvider } from "../../src/providers/mock/server.js";

/** Scenario 4's stream client: a stream counts only if it is whole and ends with [DONE]. */
describe("bench SSE target", () => {
  let mock: MockProvider;
  before(async () => {
    mock = await startMockProvider({ chunks: 32 });
  });
  after(() => mock.close());

  const targetFor = (model?: string) => {
    const url = new URL(mock.url);
    const body = model === undefined ? STREAM_BODY : JSON.stringify({ ...JSON.parse(STREAM_BODY), model });
    return sseChatTarget({
      origin: url.origin,
      path: `${url.pathname}/chat/completions`,
      connections: 2,
      body,
    });
  };

  it("counts a whole stream, its chunk events and its time to first byte", async () => {
    const target = targetFor();
    try {
      await target.call();
      await target.call();
      const stats = target.stats();
      assert.equal(target.completed(), 2);
      // Role, 27 content pieces of the 105-character echo, finish reason, usage.
      assert.equal(stats.minEvents, 30);
      assert.equal(stats.maxEvents, 30);
      assert.equal(stats.ttfb.ok, 2);
      target.resetStats();
      assert.equal(target.stats().ttfb.ok, 0);
    } finally {
      await target.close();
    }
  });

  for (const [fault, expected] of [
    ["stream_error", /error or unexpected event: data: \{"error"/],
    ["malformed", /error or unexpected event/],
    ["cut", /./],
  ] as const) {
    it(`fails a stream the provider ends with the ${fault} fault`, async () => {
      const target = targetFor(`mock-fault-${fault}`);
      try {
        await assert.rejects(target.call(), expected);
        assert.equal(target.completed(), 0);
        assert.equal(target.stats().ttfb.ok, 0);
      } finally {
        await target.close();
      }
    });
  }

  describe("against hand-written streams", () => {
    let server: Server;
    let script: Buffer[] = [];
    let origin = "";
    before(async () => {
      server = createServer(async (_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        // One write per piece, so events and multi-byte characters arrive split.
        for (const piece of script) {
          res.write(piece);
          await new Promise((resolve) => setImmediate(resolve));
        }
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const chunk = 'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"é…"}}]}\n\n';

    const pieces = (...texts: string[]) => texts.map((text) => Buffer.from(text, "utf8"));

    it("reassembles events and characters split across reads", async () => {
      const bytes = Buffer.from(`${chunk}${chunk}${chunk}data: [DONE]\n\n`, "utf8");
      // Three-byte pieces split the two-byte "é", the three-byte "…" and the blank lines.
      script = [];
      for (let at = 0; at < bytes.length; at += 3) script.push(bytes.subarray(at, at + 3));
      const target = sseChatTarget({ origin, path: "/", connections: 1 });
      try {
        await target.call();
        assert.equal(target.completed(), 1);
        assert.equal(target.stats().maxEvents, 3);
      } finally {
        await target.close();
      }
    });

    it("fails a stream without [DONE], and one with an event after it", async () => {
      const target = sseChatTarget({ origin, path: "/", connections: 1 });
      try {
        script = pieces(chunk, chunk);
        await assert.rejects(target.call(), /ended without \[DONE\] after 2 events/);
        script = pieces(chunk, "data: [DONE]\n\n", chunk);
        await assert.rejects(target.call(), /an event after \[DONE\]/);
        assert.equal(target.completed(), 0);
      } finally {
        await target.close();
      }
    });
  });
});
