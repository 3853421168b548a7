/**
 * Operator surfaces (issue 14, part 5) on a real Beamline and nats-server: the metrics
 * listener apart from the API port, its token, hashed tenant labels, failed operator
 * authentication answered 429 and recovering, and the dev key refused beyond loopback.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { createLogger } from "../../src/observability/index.js";
import { startBeamline } from "../../src/runtime/index.js";
import { startTestBeamline, TEST_DEV_KEY, type TestBeamline } from "../support/beamline.js";
import { waitFor } from "../support/wait.js";

const ADMIN_TOKEN = "admin-token-surfaces-0123456789";
const METRICS_TOKEN = "metrics-token-surfaces-0123456789";
const BURST = 3;
const REFILL_MS = 400;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe("operator surfaces", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;

  before(async () => {
    beamline = await startTestBeamline({
      adminToken: ADMIN_TOKEN,
      metrics: { token: METRICS_TOKEN, tenantLabel: "hashed" },
      operatorAuth: { failureBurst: BURST, failureRefillMs: REFILL_MS },
    });
  });
  after(async () => {
    await beamline?.stop();
  });

  /** `/metrics` with `token` (null: no Authorization header). */
  const scrape = (token: string | null = METRICS_TOKEN) =>
    fetch(`${beamline.metricsUrl}/metrics`, { headers: token ? bearer(token) : {} });
  const listTenants = (token: string) =>
    fetch(`${beamline.baseUrl}/admin/v1/tenants`, { headers: bearer(token) });

  it("serves metrics on a loopback listener of their own, and not on the API port", async () => {
    const metricsUrl = new URL(beamline.metricsUrl);
    assert.equal(metricsUrl.hostname, "127.0.0.1");
    assert.notEqual(metricsUrl.port, new URL(beamline.baseUrl).port);
    const scraped = await scrape();
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^# HELP beamline_/m);
    const onApiPort = await fetch(`${beamline.baseUrl}/metrics`, { headers: bearer(METRICS_TOKEN) });
    assert.equal(onApiPort.status, 404);
    assert.equal(await errorCode(onApiPort), "BL_NOT_FOUND");
  });

  it("asks for the metrics token, while health answers without one", async () => {
    const refused = await scrape(null);
    assert.equal(refused.status, 401);
    assert.equal(await errorCode(refused), "BL_METRICS_UNAUTHORIZED");
    assert.equal((await fetch(`${beamline.metricsUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${beamline.metricsUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${beamline.baseUrl}/healthz`)).status, 200, "the API port keeps /healthz");
  });

  it("labels a tenant by a keyed hash, the key generated once into the data dir (mode 0600)", async () => {
    const answer = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { ...bearer(TEST_DEV_KEY), "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(answer.status, 200);
    const keyFile = join(beamline.config.dataDir, "metrics-label-key");
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const key = (await readFile(keyFile, "utf8")).trim();
    const expected = createHmac("sha256", key).update("dev").digest("hex").slice(0, 12);
    const text = await (await scrape()).text();
    assert.match(text, new RegExp(`beamline_routing_decisions_total\\{tenant="${expected}",`));
    assert.match(text, new RegExp(`beamline_request_duration_seconds_count\\{tenant="${expected}",`));
    assert.equal(text.includes('tenant="dev"'), false, "the tenant id is exported");
  });

  it("answers 429 with retry-after after failed admin tokens, even to the right one, then recovers", async () => {
    for (let attempt = 0; attempt < BURST; attempt++) {
      const wrong = await listTenants(`${ADMIN_TOKEN}-wrong`);
      assert.equal(wrong.status, 401, `failure ${attempt + 1}`);
      assert.equal(await errorCode(wrong), "BL_ADMIN_UNAUTHORIZED");
    }
    const limited = await listTenants(ADMIN_TOKEN);
    assert.equal(limited.status, 429);
    assert.equal(await errorCode(limited), "BL_AUTH_RATE_LIMITED");
    const retryAfter = Number(limited.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= Math.ceil(REFILL_MS / 1000), `retry-after ${retryAfter}`);
    await waitFor(async () => (await listTenants(ADMIN_TOKEN)).status === 200, {
      what: "the admin token to be accepted again once the failures stopped",
      timeoutMs: 10 * REFILL_MS,
    });
  });

  it("limits failed metrics tokens the same way", async () => {
    let status = 0;
    for (let attempt = 0; attempt <= BURST && status !== 429; attempt++) {
      status = (await scrape("not-the-metrics-token")).status;
    }
    assert.equal(status, 429, "a wrong metrics token is limited within the burst");
    const limited = await scrape();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    await waitFor(async () => (await scrape()).status === 200, {
      what: "the metrics token to be accepted again",
      timeoutMs: 10 * REFILL_MS,
    });
  });

  it("refuses to start a gateway beyond loopback while the dev key is active", async () => {
    const start = (devKey: string | undefined) =>
      startBeamline(
        loadConfig({
          natsUrl: beamline.server.url,
          roles: ["gateway"],
          // Refused before it listens: nothing binds this address.
          httpHost: "0.0.0.0",
          httpPort: 0,
          devKey,
          dataDir: beamline.config.dataDir,
          metrics: { port: 0 },
          instanceId: "gateway-on-network",
          openai: {},
          mock: {},
          provider: {},
        }),
        { log: createLogger({ level: "silent" }) },
      );
    await assert.rejects(start(TEST_DEV_KEY), (error) => isBeamlineError(error, "BL_DEV_KEY_ON_NETWORK"));
    await assert.rejects(
      start(undefined),
      (error) => isBeamlineError(error, "BL_DEV_KEY_ON_NETWORK") && /key_dev_/.test((error as Error).message),
    );
  });
});
