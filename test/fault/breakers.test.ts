import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { healthPolicy } from "../../projections/provider-health.js";
import {
  diffProviderHealth,
  readProviderHealth,
  replayProviderHealth,
} from "../../projections/provider-health-projector.js";
import { readRequestHistory } from "../../replay/index.js";
import { type BeamlineEvent, isEvent } from "../../src/events/index.js";
import { healthKey, healthSubject } from "../../src/nats/health-keys.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../../src/nats/names.js";
import { readEvents, type StoredEvent } from "../../src/nats/read-events.js";
import { createLogger } from "../../src/observability/index.js";
import { publishPolicy, watchPolicies } from "../../src/policies/index.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { type CountingUpstream, startCountingUpstream } from "../support/counting-upstream.js";
import { waitFor } from "../support/index.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { signedStore } from "../support/signing.js";
import { tearDown } from "../support/teardown.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * Acceptance of shared circuit breakers (issue 3): two worker processes share one breaker per
 * provider/model through the `bl_health` projection. A tenant's policy ranks `flaky` first and
 * `steady` second. While `flaky`'s upstream answers 500, its breaker opens after
 * `consecutiveFailuresToOpen` failures, both instances stop calling it and serve `steady`;
 * once the upstream recovers and the cooldown has passed, one probe closes the breaker and
 * traffic returns to `flaky`. The projection rebuilt from the stream equals the live KV.
 *
 * Each worker reaches the mock through its own counting proxy, so the test knows which
 * instance served a request and what the provider really received.
 */

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TENANT = "dev";
const FLAKY = "flaky";
const STEADY = "steady";
/** The upstream model behind `flaky`: its proxy answers it with the mock's 500 during the outage. */
const FLAKY_UPSTREAM = "mock-large";

const HEALTH = {
  windowMs: 60_000,
  minAttemptsInWindow: 50,
  consecutiveFailuresToOpen: 3,
  cooldownMs: 2_000,
  halfOpenMaxProbes: 1,
  probeLeaseMs: 10_000,
};
const HEALTH_ENV: Record<string, string> = {
  BEAMLINE_HEALTH_WINDOW_MS: String(HEALTH.windowMs),
  BEAMLINE_HEALTH_MIN_ATTEMPTS: String(HEALTH.minAttemptsInWindow),
  BEAMLINE_HEALTH_CONSECUTIVE_FAILURES_TO_OPEN: String(HEALTH.consecutiveFailuresToOpen),
  BEAMLINE_HEALTH_COOLDOWN_MS: String(HEALTH.cooldownMs),
  BEAMLINE_HEALTH_HALF_OPEN_MAX_PROBES: String(HEALTH.halfOpenMaxProbes),
  BEAMLINE_HEALTH_PROBE_LEASE_MS: String(HEALTH.probeLeaseMs),
};
/** Requests sent at once per round, so both workers get some. */
const ROUND_SIZE = 4;
const MAX_ROUNDS = 15;

/**
 * What clients ask for: a catalog alias of `flaky` that the tenant's policy redefines as
 * "flaky, then steady" (tenant aliases shadow catalog ones). The gateway only admits names the
 * catalog knows, so `auto` cannot be used from HTTP.
 */
const REQUESTED = "ha";

function catalogModel(id: string, upstreamModel: string, aliases: string[] = []) {
  return {
    id,
    provider: "mock",
    upstreamModel,
    aliases,
    prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    contextWindow: 128_000,
    maxOutputTokens: 4096,
    capabilities: { tools: true, vision: false, jsonMode: true, streaming: true },
    qualityScore: 0.5,
    residency: ["eu"],
  };
}

interface Served {
  requestId: string;
  marker: string;
  history: StoredEvent[];
  decided: BeamlineEvent<"route.decided">;
  attempts: Array<BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">>;
  /** Which worker (by index) called the upstream for this request; -1 when none did. */
  worker: number;
}

describe("shared circuit breakers across two worker processes", () => {
  let dir: string;
  let mock: MockProvider;
  const upstreams: CountingUpstream[] = [];
  const workers: BeamlineProcess[] = [];
  let beamline: TestBeamline;
  let sent = 0;

  async function send(round: number): Promise<Served[]> {
    const markers = Array.from({ length: ROUND_SIZE }, () => `breaker request ${++sent} (round ${round})`);
    return Promise.all(
      markers.map(async (marker) => {
        const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: REQUESTED, messages: [{ role: "user", content: marker }] }),
        });
        const body = await response.text();
        assert.equal(response.status, 200, `${marker}: ${body}`);
        const requestId = response.headers.get("x-request-id")!;
        const history = await readRequestHistory(beamline.nc, TENANT, requestId);
        const decided = history.map((h) => h.event).find((e) => isEvent(e, "route.decided"));
        assert.ok(decided, `${marker} has a routing decision`);
        const attempts = history
          .map((h) => h.event)
          .filter((e) => isEvent(e, "attempt.succeeded") || isEvent(e, "attempt.failed"));
        const worker = upstreams.findIndex((u) => u.callsFor(marker).length > 0);
        return { requestId, marker, history, decided, attempts, worker } as Served;
      }),
    );
  }

  const breakerIn = (served: Served) => served.decided.data.health?.models[`mock/${FLAKY}`]?.breaker;
  const transitions = () => readEvents(beamline.nc, StreamNames.health, healthSubject("mock", FLAKY));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "bl-breakers-"));
    const catalogFile = join(dir, "catalog.json");
    await writeFile(
      catalogFile,
      JSON.stringify({
        version: "breakers-1",
        models: [catalogModel(FLAKY, FLAKY_UPSTREAM, [REQUESTED]), catalogModel(STEADY, "mock-small")],
      }),
    );
    mock = await startMockProvider();
    beamline = await startTestBeamline({
      roles: ["gateway", "projector", "notary"],
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
      catalogFile,
      ackWaitMs: 1_000,
      health: HEALTH,
      mock: { url: mock.url },
      logLevel: "info",
    });
    const store = signedStore(beamline.nc);
    await publishPolicy(
      store,
      TENANT,
      { routing: { aliases: { [REQUESTED]: { models: [FLAKY, STEADY] } } } },
      new Date(),
    );
    // The workers read policies live; waiting for the projection first makes the first
    // request of each already see version 1.
    const policies = await watchPolicies(beamline.nc, createLogger({ level: "silent" }));
    try {
      await waitFor(() => policies.policyFor(TENANT).version === 1, { what: "the tenant policy in KV" });
    } finally {
      policies.stop();
    }
    for (let i = 0; i < 2; i++) {
      const upstream = await startCountingUpstream(mock.url);
      upstream.failing.add(FLAKY_UPSTREAM);
      upstreams.push(upstream);
      workers.push(
        startBeamlineProcess("worker,billing", {
          NATS_URL: beamline.server.url,
          BEAMLINE_MOCK_URL: upstream.url,
          BEAMLINE_CATALOG_FILE: catalogFile,
          BEAMLINE_ACK_WAIT_MS: "1000",
          BEAMLINE_EXEC_RETRIES_PER_CANDIDATE: "0",
          ...HEALTH_ENV,
        }),
      );
    }
    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.output().includes("Beamline is running"), {
        what: `worker ${i} to start`,
        timeoutMs: 30_000,
      });
    }
  });

  after(() =>
    tearDown(
      () => Promise.all(workers.map((worker) => worker.stop())),
      async () => beamline?.stop(),
      () => Promise.all(upstreams.map((upstream) => upstream.close())),
      async () => mock?.close(),
      async () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  test("a failing provider opens its breaker on both instances, traffic fails over, a probe closes it", async () => {
    // 1. Outage: every request fails over from flaky to steady until the breaker opens.
    const beforeOpen: Served[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      beforeOpen.push(...(await send(round)));
      if ((await transitions()).some((t) => isEvent(t.event, "provider.breaker_opened"))) break;
    }
    const opened = (await transitions())
      .map((t) => t.event)
      .find((e) => isEvent(e, "provider.breaker_opened"));
    assert.ok(opened && isEvent(opened, "provider.breaker_opened"), "the breaker of mock/flaky opened");
    assert.equal(opened.data.reason, "consecutive_failures");
    assert.equal(opened.data.consecutiveFailures, HEALTH.consecutiveFailuresToOpen);
    // It opened on the configured count of failures, in stream order, within the window.
    const flakyFailures = beforeOpen
      .flatMap((s) => s.history)
      .filter((h) => isEvent(h.event, "attempt.failed") && h.event.data.model === FLAKY)
      .sort((a, b) => a.seq - b.seq);
    assert.equal(opened.data.causeEventId, flakyFailures[HEALTH.consecutiveFailuresToOpen - 1]?.event.id);
    assert.ok(
      Date.parse(opened.data.openedAt) - Date.parse(flakyFailures[0]!.event.time) <= HEALTH.windowMs,
      "opened within the configured window",
    );
    for (const served of beforeOpen) {
      const last = served.attempts.at(-1)!;
      assert.ok(
        isEvent(last, "attempt.succeeded") && last.data.model === STEADY,
        `${served.marker} served by steady`,
      );
    }

    // 2. While open, both instances route around flaky: their decisions record the open
    //    breaker, rank steady first, and never call flaky.
    const whileOpen: Served[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      whileOpen.push(...(await send(round)));
      const seenOpen = new Set(whileOpen.filter((s) => breakerIn(s) === "open").map((s) => s.worker));
      if (seenOpen.has(0) && seenOpen.has(1)) break;
    }
    for (const worker of [0, 1]) {
      const served = whileOpen.filter((s) => s.worker === worker && breakerIn(s) === "open");
      assert.ok(served.length > 0, `worker ${worker} decided at least one request with the breaker open`);
      for (const s of served) {
        assert.equal(s.decided.data.candidates[0]!.model, STEADY, `${s.marker}: steady ranked first`);
        assert.deepEqual(
          s.attempts.map((a) => [a.type, a.data.model]),
          [["attempt.succeeded", STEADY]],
          `${s.marker}: no attempt on flaky`,
        );
        assert.deepEqual(
          upstreams[worker]!.callsFor(s.marker).map((c) => c.model),
          ["mock-small"],
          `${s.marker}: the provider received only the steady call`,
        );
      }
    }

    // 3. The upstream recovers. After the cooldown one probe per half-open period goes to flaky
    //    and closes the breaker; traffic returns to flaky.
    for (const upstream of upstreams) upstream.failing.delete(FLAKY_UPSTREAM);
    const lastOpened = (await transitions())
      .map((t) => t.event)
      .filter((e) => isEvent(e, "provider.breaker_opened"))
      .at(-1)!;
    const openUntil = Date.parse((lastOpened as BeamlineEvent<"provider.breaker_opened">).data.openUntil);
    await waitFor(() => Date.now() >= openUntil, { what: "the cooldown to end", timeoutMs: 30_000 });
    const afterCooldown: Served[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      afterCooldown.push(...(await send(round)));
      if ((await transitions()).some((t) => isEvent(t.event, "provider.breaker_closed"))) break;
    }
    const events = (await transitions()).map((t) => t.event);
    const closed = events.find((e) => isEvent(e, "provider.breaker_closed"));
    assert.ok(closed && isEvent(closed, "provider.breaker_closed"), "the breaker of mock/flaky closed again");
    const types = events.map((e) => e.type);
    assert.equal(types[0], "provider.breaker_opened");
    assert.equal(types.at(-1), "provider.breaker_closed");
    assert.equal(types.at(-2), "provider.breaker_half_opened", `transitions: ${types.join(", ")}`);
    const probe = afterCooldown.flatMap((s) => s.attempts).find((a) => a.id === closed.data.causeEventId);
    assert.ok(probe && isEvent(probe, "attempt.succeeded"), "a successful attempt closed the breaker");
    assert.equal(probe.data.model, FLAKY);
    assert.equal(probe.data.probe, true, "the closing attempt was admitted as a half-open probe");
    // One probe for the one half-open period, shared by both instances: every other request
    // decided while half-open skipped flaky for want of a probe slot (recorded in `skipped`),
    // unless its executor already saw the breaker closed.
    const closedAt = Date.parse(closed.data.at);
    const probes = afterCooldown.flatMap((s) => s.attempts).filter((a) => a.data.probe === true);
    assert.deepEqual(
      probes.map((a) => a.id),
      [probe.id],
      "exactly one probe across both instances",
    );
    for (const s of afterCooldown.filter((r) => breakerIn(r) === "half_open")) {
      const first = s.attempts[0]!;
      const probed = s.attempts.some((a) => a.id === probe.id);
      const skippedForProbeLimit = (first.data.skipped ?? []).some(
        (skip) => skip.model === FLAKY && skip.reason === "probe_limit",
      );
      const calledAfterClose =
        first.data.model === FLAKY && Date.parse(first.data.startedAt) >= closedAt && !first.data.probe;
      assert.ok(
        probed || skippedForProbeLimit || calledAfterClose,
        `${s.marker} (decided half-open): ${JSON.stringify(s.attempts.map((a) => a.data))}`,
      );
    }
    // Back to normal: once both instances see it closed, flaky serves again at the first attempt.
    const healthKv = await new Kvm(beamline.nc).open(KvBuckets.health);
    await waitFor(
      async () =>
        (await readProviderHealth(healthKv)).get(healthKey("mock", FLAKY))?.breaker.state === "closed",
      {
        what: "the closed breaker in KV",
      },
    );
    const recovered: Served[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const served = await send(round);
      recovered.push(...served);
      if (served.every((s) => breakerIn(s) === "closed")) break;
    }
    const decidedClosed = recovered.filter((r) => breakerIn(r) === "closed");
    assert.ok(decidedClosed.length > 0, "requests were decided with the breaker closed again");
    for (const s of decidedClosed) {
      assert.deepEqual(
        s.attempts.map((a) => [a.type, a.data.model]),
        [["attempt.succeeded", FLAKY]],
        `${s.marker}: served by flaky again`,
      );
    }
  });

  test("the health projection rebuilt from the stream equals the live KV", async () => {
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.healthProjector, 20_000);
    const kv = await new Kvm(beamline.nc).open(KvBuckets.health);
    const live = await readProviderHealth(kv);
    const replayed = await replayProviderHealth(beamline.nc, healthPolicy(HEALTH));
    assert.deepEqual(diffProviderHealth(replayed, live), []);
    const flaky = live.get(healthKey("mock", FLAKY));
    // Messages on every assert.ok: without one, node:assert re-reads the source to print the
    // expression, which under the TypeScript loader can take minutes.
    assert.ok(
      flaky && flaky.breaker.opens >= 1 && flaky.breaker.state === "closed",
      `mock/flaky opened at least once and is closed again: ${JSON.stringify(flaky?.breaker)}`,
    );
    assert.ok(live.get(healthKey("mock", STEADY)), "mock/steady has a health record");

    // The operator's command says the same, in its own process.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "providers", "health", "--verify"],
      {
        cwd: REPO_ROOT,
        env: { ...cleanEnv(), NATS_URL: beamline.server.url, ...HEALTH_ENV },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.match(stdout, /^verified: 2 record\(s\) equal the replay$/m);
    assert.match(stdout, /flaky/);
  });

  test("afterwards the log is still the record: billing reconciles and audit verify passes", async () => {
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});

/** The test process's environment without Beamline or provider settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(BEAMLINE_|OPENAI_|ANTHROPIC_|GEMINI_|NATS_|LOG_LEVEL$)/.test(name)) env[name] = value;
  }
  return env;
}
