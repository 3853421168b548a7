import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Fastify from "fastify";
import { GatewayDrain } from "../../src/gateway/index.js";

/** A Fastify app with the drain registered and one route that answers when released. */
async function appWithDrain() {
  const drain = new GatewayDrain();
  const app = Fastify();
  drain.register(app);
  const releases: Array<() => void> = [];
  let entered = 0;
  app.post("/v1/chat/completions", async () => {
    entered++;
    await new Promise<void>((resolve) => releases.push(resolve));
    return { ok: true };
  });
  app.get("/readyz", async (_request, reply) => reply.code(drain.draining ? 503 : 200).send({}));
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  const call = () =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
  return { drain, app, url, call, releases, entered: () => entered };
}

describe("gateway drain", () => {
  it("is idle at once when nothing runs", async () => {
    const drain = new GatewayDrain();
    drain.begin();
    await drain.idle();
    assert.equal(drain.inFlight, 0);
  });

  it("refuses new requests with 503 BL_DRAINING and retry-after, lets running ones finish, then is idle", async () => {
    const { drain, app, url, call, releases, entered } = await appWithDrain();
    try {
      const running = call();
      while (entered() === 0) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(drain.inFlight, 1);
      drain.begin();
      let idle = false;
      const idlePromise = drain.idle().then(() => {
        idle = true;
      });

      const refused = await call();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "BL_DRAINING");
      assert.equal((await fetch(`${url}/readyz`)).status, 503, "probes are still answered");
      assert.equal(idle, false, "a request is still running");

      releases[0]!();
      assert.equal((await running).status, 200);
      await idlePromise;
      assert.equal(drain.inFlight, 0);
      assert.equal(entered(), 1, "the refused request never reached its handler");
    } finally {
      await app.close();
    }
  });
});
