import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type Browser, chromium, type Page } from "playwright-core";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { chromiumExecutable, chromiumSkipReason } from "../support/chromium.js";

const ADMIN_TOKEN = "console-e2e-admin-token-0123456789";
const skip = chromiumSkipReason();
if (skip) console.log(`# console browser test skipped: ${skip}`);

/**
 * The web console in a real headless Chromium against a real Beamline (every role, its own
 * nats-server, the mock provider): sign in with the admin token, see a request made by an
 * OpenAI client appear live, open its timeline from the log.
 */
describe("the web console in a browser", { timeout: 120_000, skip }, () => {
  let beamline: TestBeamline;
  let browser: Browser;
  let page: Page;
  /** Every URL the page asked for: the token must be in none. */
  const requestedUrls: string[] = [];

  before(async () => {
    beamline = await startTestBeamline({ adminToken: ADMIN_TOKEN });
    browser = await chromium.launch({ executablePath: chromiumExecutable()!, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("request", (request) => requestedUrls.push(request.url()));
  });
  after(async () => {
    await browser?.close();
    await beamline?.stop();
  });

  it("loads, signs in, shows a new request within 2 s and opens its timeline from the log", async () => {
    const response = await page.goto(`${beamline.baseUrl}/console`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    await page.fill("#token", ADMIN_TOKEN);
    await page.click("#login button[type=submit]");
    await page.locator("#status", { hasText: /^live$/ }).waitFor({ timeout: 15_000 });

    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const { response: answer } = await client.chat.completions
      .create({ model: "mock-small", messages: [{ role: "user", content: "hello console" }] })
      .withResponse();
    const requestId = answer.headers.get("x-request-id");
    assert.ok(requestId, "the gateway names the request");
    const answeredAt = Date.now();
    const row = page.locator(`#recent button[data-request-id="${requestId}"]`);
    await row.waitFor({ state: "visible", timeout: 2_000 });
    console.log(`# request visible in the console ${Date.now() - answeredAt} ms after its answer`);

    await row.click();
    const timeline = page.locator("#timeline-events li");
    await timeline.locator("code", { hasText: /^request\.completed$/ }).waitFor({ timeout: 10_000 });
    const types = await timeline.locator("code").allTextContents();
    assert.equal(types[0], "request.accepted", "the timeline starts where the log does");
    assert.ok(types.includes("route.decided"), `route.decided in ${types.join(", ")}`);
    assert.ok(types.includes("request.completed"), `request.completed in ${types.join(", ")}`);

    const dir = join(tmpdir(), "beamline-console-screenshots");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `console-${Date.now()}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`# screenshot: ${path}`);
  });

  it("lists the dev tenant and its key without the key itself", async () => {
    await page.locator("#tenants tbody td", { hasText: /^dev / }).waitFor({ timeout: 10_000 });
    const text = (await page.textContent("body")) ?? "";
    assert.ok(!text.includes(beamline.devKey), "no key secret on the page");
  });

  it("shows today's spend of the request and the provider's breaker", async () => {
    // 14 prompt and 11 completion tokens of mock-small: 8 700 nano-USD (config/catalog.json).
    await page.locator("#spend tbody td", { hasText: "0.000008700" }).first().waitFor({ timeout: 10_000 });
    const provider = page.locator("#providers tbody tr", { hasText: "mock-small" });
    await provider.waitFor({ timeout: 10_000 });
    assert.match((await provider.textContent()) ?? "", /closed/);
  });

  it("keeps the admin token out of every URL, the logs and cookies", async () => {
    assert.ok(requestedUrls.length > 0);
    for (const url of requestedUrls) assert.ok(!url.includes(ADMIN_TOKEN), `token in ${url}`);
    assert.ok(!beamline.logs().includes(ADMIN_TOKEN), "token in the logs");
    assert.deepEqual(await page.context().cookies(), []);
    assert.equal(await page.evaluate("localStorage.length"), 0, "nothing kept beyond the tab");
  });
});

describe("the console's live data without a browser", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  before(async () => {
    beamline = await startTestBeamline({ adminToken: ADMIN_TOKEN });
  });
  after(async () => beamline?.stop());

  it("refuses the live stream without the admin token", async () => {
    const response = await fetch(`${beamline.baseUrl}/admin/v1/console/live`);
    assert.equal(response.status, 401);
    await response.body?.cancel();
  });

  it("streams snapshots with the admin token", async () => {
    const abort = new AbortController();
    const response = await fetch(`${beamline.baseUrl}/admin/v1/console/live`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    abort.abort();
    const data = JSON.parse(
      text
        .split("\n")
        .find((line) => line.startsWith("data: "))!
        .slice(6),
    );
    assert.equal(typeof data.window.ratePerSecond, "number");
    assert.ok(
      Array.isArray(data.consumers) &&
        data.consumers.some((c: { durable: string }) => c.durable === "worker"),
    );
    assert.ok(data.tenants.some((t: { id: string }) => t.id === "dev"));
  });
});
