import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { verifyRecordedDecision } from "../../replay/index.js";
import { isEvent } from "../../src/events/index.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { publishPolicy } from "../../src/policies/index.js";
import { DEV_TENANT } from "../../src/tenancy/bootstrap.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { readRequestHistory, testContentCodec } from "../support/history.js";
import { waitFor } from "../support/index.js";
import { signedStore } from "../support/signing.js";

/** "Applies live": a published policy routes requests within a second, on a running Beamline. */
const LIVE_MS = 1_000;
/** Requests sent at most while waiting for the new version to route (bounded with {@link LIVE_MS}). */
const MAX_PROBES = 50;

const messages = [{ role: "user" as const, content: "Route me by the tenant's policy" }];
const mockOnly = { allowedProviders: ["mock"] };
/** Version 1: the cheapest mock model. */
const CHEAPEST = { routing: { strategy: { type: "cheapest" }, constraints: mockOnly } };
/** Version 2: the best mock model by quality score. */
const QUALITY = { routing: { strategy: { type: "quality" }, constraints: mockOnly } };

describe("a tenant policy changes live, without a restart", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  let client: OpenAI;
  let store: EventStore;

  before(async () => {
    beamline = await startTestBeamline();
    client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    store = signedStore(beamline.nc);
  });
  after(() => beamline?.stop());

  /** Sends one `auto` request; returns its id and the model that answered. */
  async function route(): Promise<{ requestId: string; model: string }> {
    const { data, response } = await client.chat.completions
      .create({ model: "auto", messages }, { timeout: 20_000 })
      .withResponse();
    assert.equal(response.status, 200);
    return { requestId: data.id, model: data.model };
  }

  /** The recorded decision of a request: its policy version and first candidate. */
  async function decisionOf(requestId: string) {
    const history = await readRequestHistory(beamline.nc, DEV_TENANT, requestId);
    const decided = history.map((h) => h.event).find((e) => isEvent(e, "route.decided"));
    assert.ok(decided && isEvent(decided, "route.decided"), `${requestId} has a recorded decision`);
    return {
      policyVersion: decided.data.policyVersion,
      model: decided.data.candidates[0]?.model,
      strategy: decided.data.strategy?.type,
    };
  }

  it("routes the next request by the new version within a second; both decisions replay", async (t) => {
    const v1 = await publishPolicy(store, DEV_TENANT, CHEAPEST, new Date());
    assert.equal(v1.version, 1);
    // The first version goes through the same path as the second: poll with requests. The
    // built-in default (version 0) routes `auto` the same way, so the decision must say v1.
    const first = await waitFor(
      async () => {
        const answer = await route();
        return (await decisionOf(answer.requestId)).policyVersion === 1 ? answer : undefined;
      },
      { what: "a request routed by policy version 1", timeoutMs: 10_000, intervalMs: 0 },
    );
    assert.deepEqual(await decisionOf(first.requestId), {
      policyVersion: 1,
      model: "mock-small",
      strategy: "cheapest",
    });

    const v2 = await publishPolicy(store, DEV_TENANT, QUALITY, new Date());
    assert.equal(v2.version, 2);
    const published = performance.now();
    // Requests at a steady pace from the moment of publishing, not one after the other: a slow
    // answer (a loaded machine) must not stop the probing. The first one routed by version 2
    // must have been sent within a second of publishing.
    const probes: Array<Promise<{ requestId: string; model: string; sentAfterMs: number }>> = [];
    for (let probe = 0; probe < MAX_PROBES; probe++) {
      const sentAfterMs = performance.now() - published;
      if (sentAfterMs > LIVE_MS) break;
      probes.push(route().then((answer) => ({ ...answer, sentAfterMs })));
      await new Promise((resolve) => setTimeout(resolve, LIVE_MS / MAX_PROBES));
    }
    const answers = await Promise.all(probes);
    const switched = answers.find((answer) => answer.model === "mock-large");
    assert.ok(
      switched,
      `no request routed by policy version 2 within ${LIVE_MS} ms of publishing it: ${answers
        .map((a) => `${Math.round(a.sentAfterMs)} ms → ${a.model}`)
        .join(", ")}`,
    );
    t.diagnostic(
      `first request routed by version 2 was sent ${Math.round(switched.sentAfterMs)} ms after publishing`,
    );
    assert.deepEqual(await decisionOf(switched.requestId), {
      policyVersion: 2,
      model: "mock-large",
      strategy: "quality",
    });
    // From then on every request is routed by version 2.
    const next = await route();
    assert.equal(next.model, "mock-large");
    assert.equal((await decisionOf(next.requestId)).policyVersion, 2);

    // The metrics carry the strategy that routed; the version is on the event, not a label
    // (every publish makes a new version: the series would grow without bound).
    const metrics = await (await fetch(`${beamline.metricsUrl}/metrics`)).text();
    assert.match(
      metrics,
      /beamline_routing_decisions_total\{tenant="dev",strategy="quality",model="mock-large",outcome="routed"\} \d+/,
    );
    assert.doesNotMatch(metrics, /policy_version=/);

    // Each recorded decision reproduces from the log: its policy version, its catalog version.
    for (const requestId of [first.requestId, switched.requestId]) {
      const verification = await verifyRecordedDecision(
        beamline.nc,
        DEV_TENANT,
        requestId,
        await testContentCodec(beamline.nc),
      );
      assert.deepEqual(verification, { identical: true, differences: [] }, `decision of ${requestId}`);
    }
  });
});
