import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import OpenAI from "openai";
import { RequestSlots, requestSubject, usageSubject } from "../../src/events/index.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../../src/nats/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { readEvents, readRequestHistory } from "../support/history.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { signedStore } from "../support/signing.js";
import { waitFor } from "../support/wait.js";

/**
 * Issue 17, the exact response cache end to end: real OpenAI and Anthropic SDKs against the
 * gateway, the mock provider behind it, policies published as events. Each test asks its own
 * question, so no test depends on another's entries.
 */
type PolicyDocumentInput = Parameters<typeof publishPolicy>[2];

describe("the exact response cache", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  const keys: Record<string, string> = {};
  const openai = (tenant: string) =>
    new OpenAI({ apiKey: keys[tenant]!, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  const cache = (extra: Record<string, unknown> = {}): PolicyDocumentInput => ({
    cache: { mode: "exact", ttlSeconds: 300, ...extra },
  });

  before(async () => {
    beamline = await startTestBeamline({ notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 } });
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    const policies: Record<string, PolicyDocumentInput> = {
      free: cache(),
      other: cache(),
      half: cache({ billing: { discountPercent: 50 } }),
      brief: cache({ ttlSeconds: 2 }),
      sampled: cache({ includeNonDeterministic: true }),
      nocache: {},
    };
    for (const [tenant, policy] of Object.entries(policies)) {
      await admin.createTenant({ id: tenant, name: tenant });
      keys[tenant] = (await admin.issueKey(tenant, { label: "cache" })).key;
      await publishPolicy(store, tenant, policy, new Date());
    }
    // The policies reach the worker's live view through the projector: wait until they apply.
    await waitFor(
      async () => {
        const { response } = await openai("free")
          .chat.completions.create({
            model: "mock-small",
            temperature: 0,
            messages: [{ role: "user", content: "warm-up" }],
          })
          .withResponse();
        return response.headers.get("x-beamline-cache") !== null;
      },
      { what: "the cache policy to reach the worker", timeoutMs: 30_000, intervalMs: 200 },
    );
  });
  after(async () => {
    await beamline?.stop();
  });

  async function ask(tenant: string, content: string, headers: Record<string, string> = {}, temperature = 0) {
    const { data, response } = await openai(tenant)
      .chat.completions.create(
        { model: "mock-small", temperature, messages: [{ role: "user", content }] },
        { headers },
      )
      .withResponse();
    return { completion: data, status: response.headers.get("x-beamline-cache") };
  }

  async function askStreamed(tenant: string, content: string) {
    const { data, response } = await openai(tenant)
      .chat.completions.create({
        model: "mock-small",
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content }],
      })
      .withResponse();
    let text = "";
    let id = "";
    let usage: unknown;
    for await (const chunk of data) {
      id = chunk.id;
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    return { id, text, usage, status: response.headers.get("x-beamline-cache") };
  }

  it("a repeated request through the OpenAI front door is a hit: same answer, no provider call, the source named", async () => {
    const first = await ask("free", "What is the capital of France?");
    const second = await ask("free", "What is the capital of France?");
    assert.equal(first.status, "miss");
    assert.equal(second.status, "hit");
    assert.notEqual(second.completion.id, first.completion.id, "the hit has its own request id");
    assert.equal(second.completion.choices[0]!.message.content, first.completion.choices[0]!.message.content);
    assert.deepEqual(second.completion.usage, first.completion.usage);

    const history = await readRequestHistory(beamline.nc, "free", second.completion.id);
    const types = history.map((stored) => stored.event.type);
    assert.ok(!types.some((type) => type.startsWith("attempt.")), `no provider call: ${types.join(", ")}`);
    const hit = history.find((stored) => stored.event.type === "cache.hit");
    assert.ok(hit, `a cache.hit event: ${types.join(", ")}`);
    assert.equal((hit.event.data as { sourceRequestId: string }).sourceRequestId, first.completion.id);
  });

  it("a streamed request is answered from the cache as SSE, with the same text and usage", async () => {
    const first = await askStreamed("free", "Stream me a haiku.");
    const second = await askStreamed("free", "Stream me a haiku.");
    assert.equal(first.status, "miss", "a streamed miss says so in its headers");
    assert.equal(second.status, "hit");
    assert.ok(second.text.length > 0);
    assert.equal(second.text, first.text);
    assert.deepEqual(second.usage, first.usage);
    assert.notEqual(second.id, first.id);
  });

  it("the Anthropic front door hits the same way, plain and streamed", async () => {
    const client = new Anthropic({ apiKey: keys["free"]!, baseURL: beamline.baseUrl, maxRetries: 0 });
    const params = {
      model: "mock-small",
      max_tokens: 64,
      temperature: 0,
      messages: [{ role: "user" as const, content: "Name three rivers." }],
    };
    const first = await client.messages.create(params).withResponse();
    const second = await client.messages.create(params).withResponse();
    assert.equal(first.response.headers.get("x-beamline-cache"), "miss");
    assert.equal(second.response.headers.get("x-beamline-cache"), "hit");
    assert.deepEqual(second.data.content, first.data.content);
    assert.equal(second.data.usage.output_tokens, first.data.usage.output_tokens);

    const streamed = await client.messages.create({ ...params, stream: true }).withResponse();
    assert.equal(
      streamed.response.headers.get("x-beamline-cache"),
      "hit",
      "streamed or not, the key is the same",
    );
    let text = "";
    let outputTokens = 0;
    for await (const event of streamed.data) {
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
      if (event.type === "message_delta") outputTokens = event.usage.output_tokens;
    }
    const firstText = first.data.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    assert.equal(text, firstText);
    assert.equal(outputTokens, first.data.usage.output_tokens);
  });

  it("tenants never share entries: the same request from two tenants is two misses", async () => {
    const question = "Which tenant am I?";
    assert.equal((await ask("free", question)).status, "miss");
    assert.equal((await ask("other", question)).status, "miss");
    assert.equal((await ask("other", question)).status, "hit");
    const kv = await new Kvm(beamline.nc).open(KvBuckets.responseCache);
    const names: string[] = [];
    for await (const name of await kv.keys()) names.push(name);
    assert.ok(
      names.every((name) => /^(free|other|half|brief|sampled)\.[0-9a-f]{64}$/.test(name)),
      names.join(),
    );
    // Sealed: the answer's text is nowhere in the stored bytes.
    const answer = (await ask("other", question)).completion.choices[0]!.message.content!;
    for (const name of names) {
      const entry = await kv.get(name);
      assert.ok(!entry?.string().includes(answer), "entries are sealed at rest");
    }
  });

  it("an entry expires after the policy's TTL, and the next request is a miss again", async () => {
    const question = "What time is it?";
    assert.equal((await ask("brief", question)).status, "miss");
    const kv = await new Kvm(beamline.nc).open(KvBuckets.responseCache);
    const stored = async () => {
      const names: string[] = [];
      for await (const name of await kv.keys("brief.>")) names.push(name);
      return names;
    };
    const [name] = await waitFor(
      async () => {
        const names = await stored();
        return names.length > 0 ? names : undefined;
      },
      { what: "the entry" },
    );
    const jsm = await jetstreamManager(beamline.nc);
    const message = await jsm.streams.getMessage(`KV_${KvBuckets.responseCache}`, {
      last_by_subj: `$KV.${KvBuckets.responseCache}.${name}`,
    });
    assert.equal(message?.header.get("Nats-TTL"), "2s", "the entry carries the policy's TTL");
    await waitFor(async () => (await kv.get(name!))?.operation !== "PUT", {
      what: "the entry to expire",
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    assert.equal((await ask("brief", question)).status, "miss");
  });

  it("x-beamline-cache: bypass and cache-control: no-cache skip the look-up; no-store also skips storing", async () => {
    const question = "Bypass me.";
    assert.equal((await ask("free", question)).status, "miss");
    assert.equal((await ask("free", question, { "x-beamline-cache": "bypass" })).status, "bypass");
    assert.equal((await ask("free", question, { "cache-control": "no-cache" })).status, "bypass");
    assert.equal((await ask("free", question)).status, "hit");

    const unstored = "Do not keep this.";
    assert.equal((await ask("free", unstored, { "cache-control": "no-store" })).status, "bypass");
    assert.equal((await ask("free", unstored)).status, "miss", "no-store stored nothing");
  });

  it("sampled requests bypass the cache unless the policy includes them; a tenant without a cache hears nothing", async () => {
    assert.equal((await ask("free", "Surprise me.", {}, 0.7)).status, "bypass");
    assert.equal((await ask("sampled", "Surprise me.", {}, 0.7)).status, "miss");
    assert.equal((await ask("sampled", "Surprise me.", {}, 0.7)).status, "hit");
    assert.equal((await ask("nocache", "Surprise me.")).status, null);
  });

  it("hits are billed by policy (free, half price) with cached: true, and the log still reconciles, verifies and replays", async () => {
    const free = [await ask("free", "Bill me nothing."), await ask("free", "Bill me nothing.")];
    const half = [await ask("half", "Bill me half."), await ask("half", "Bill me half.")];
    assert.deepEqual(
      [...free, ...half].map((answer) => answer.status),
      ["miss", "hit", "miss", "hit"],
    );
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 30_000);
    const usageOf = async (tenant: string, requestId: string) => {
      const [stored] = await readEvents(beamline.nc, StreamNames.usage, usageSubject(tenant, requestId));
      return stored!.event.data as { costNanoUsd: number; cached?: boolean; cacheDiscountPercent?: number };
    };
    const freeSource = await usageOf("free", free[0]!.completion.id);
    const freeHit = await usageOf("free", free[1]!.completion.id);
    assert.ok(freeSource.costNanoUsd > 0);
    assert.equal(freeSource.cached, undefined);
    assert.equal(freeHit.cached, true);
    assert.equal(freeHit.costNanoUsd, 0);
    const halfSource = await usageOf("half", half[0]!.completion.id);
    const halfHit = await usageOf("half", half[1]!.completion.id);
    assert.equal(halfHit.cached, true);
    assert.equal(halfHit.cacheDiscountPercent, 50);
    assert.equal(halfHit.costNanoUsd, Math.floor((halfSource.costNanoUsd * 50 + 50) / 100));

    const terminal = await readEvents(
      beamline.nc,
      StreamNames.requests,
      requestSubject("half", half[1]!.completion.id, RequestSlots.terminal),
    );
    assert.deepEqual((terminal[0]!.event.data as { cache: unknown }).cache, {
      status: "hit",
      sourceRequestId: half[0]!.completion.id,
      discountPercent: 50,
    });

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.usage, ConsumerNames.spendProjector, 30_000);
    await assertBillingReconciles(beamline.server.url);
    const verify = await runCliStatus(beamline.server.url, [
      "decisions",
      "verify",
      "--tenant",
      "half",
      "--json",
    ]);
    assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });

  it("the cache's metrics count hits, misses and bytes per tenant", async () => {
    const text = await (await fetch(`${beamline.metricsUrl}/metrics`)).text();
    assert.match(text, /beamline_cache_requests_total\{tenant="free",status="hit"\} [1-9]/);
    assert.match(text, /beamline_cache_requests_total\{tenant="free",status="miss"\} [1-9]/);
    assert.match(text, /beamline_cache_bytes_total\{tenant="free",direction="stored"\} [1-9]/);
    assert.match(text, /beamline_cache_bytes_total\{tenant="free",direction="served"\} [1-9]/);
  });

  it("erasing a tenant removes its cached answers and no other tenant's", async () => {
    const kv = await new Kvm(beamline.nc).open(KvBuckets.responseCache);
    const count = async (filter: string) => {
      let n = 0;
      for await (const _ of await kv.keys(filter)) n++;
      return n;
    };
    const before = { other: await count("other.>"), free: await count("free.>") };
    assert.ok(before.other > 0 && before.free > 0);
    const run = await runCliStatus(beamline.server.url, ["tenants", "erase", "other", "--yes", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).cachePurged, before.other);
    assert.equal(await count("other.>"), 0);
    assert.equal(await count("free.>"), before.free);
  });
});
