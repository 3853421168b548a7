import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  diffProviderHealth,
  healthPolicy,
  providerHealthProjector,
  readProviderHealth,
  replayProviderHealth,
} from "../../../projections/index.js";
import { attemptSubject, isEvent, makeEvent } from "../../../src/events/index.js";
import {
  type AttemptRecord,
  type BreakerGate,
  type Candidate,
  ConcurrencyPools,
  executeCandidates,
  executionPolicy,
  systemClock,
} from "../../../src/execution/index.js";
import { type HealthView, startHealthView } from "../../../src/health/index.js";
import { type RunningStage, runStage } from "../../../src/nats/consumer-runner.js";
import type { EventStore } from "../../../src/nats/event-store.js";
import { KvBuckets, StreamNames } from "../../../src/nats/names.js";
import { readEvents } from "../../../src/nats/read-events.js";
import { createLogger, createMetrics } from "../../../src/observability/index.js";
import {
  createOpenAiAdapter,
  createProviderRegistry,
  type MockProvider,
  type ProviderRegistry,
  startMockProvider,
} from "../../../src/providers/index.js";
import { applyTopology, beamlineTopology } from "../../../streams/index.js";
import { runCli } from "../../support/cli.js";
import { type NatsServer, startNatsServer, waitFor } from "../../support/index.js";
import { signedStore } from "../../support/signing.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../../support/topology.js";

const policy = healthPolicy({ consecutiveFailuresToOpen: 3, minAttemptsInWindow: 100, cooldownMs: 1500 });
const TENANT = "acme";

function flaky(upstreamModel: string): Candidate {
  return { provider: "mock", model: "flaky", upstreamModel, score: 2, reason: "test" };
}
const steady: Candidate = {
  provider: "mock",
  model: "steady",
  upstreamModel: "mock-small",
  score: 1,
  reason: "test",
};

/** One router instance: its own NATS connection, event store and health view. */
interface Worker {
  nc: NatsConnection;
  store: EventStore;
  view: HealthView;
  projector: RunningStage;
}

describe("provider health projection and shared circuit breakers", () => {
  let server: NatsServer;
  let mock: MockProvider;
  let providers: ProviderRegistry;
  const workers: Worker[] = [];

  before(async () => {
    server = await startNatsServer();
    mock = await startMockProvider();
    providers = createProviderRegistry([createOpenAiAdapter({ name: "mock", baseUrl: mock.url })]);
    for (let i = 0; i < 2; i++) {
      const nc = await connect({ servers: server.url, name: `worker-${i}` });
      if (i === 0) {
        await applyTopology(nc, beamlineTopology({ ...SHORT_LIVED_TOPOLOGY_SETTINGS, maxAckPending: 100 }));
      }
      const store = signedStore(nc);
      // Two projector instances share the durable consumer, as two router processes would.
      const projector = await runStage({
        store,
        handler: await providerHealthProjector(store, policy),
        log: createLogger({ level: "silent" }),
        metrics: createMetrics(),
        ackWaitMs: 30_000,
        maxDeliver: 5,
      });
      workers.push({ nc, store, view: await startHealthView({ nc, policy, clock: systemClock }), projector });
    }
  });

  after(async () => {
    for (const worker of workers) {
      await worker.projector.stop(1000);
      await worker.view.stop();
      await worker.nc.close();
    }
    await providers.closeAll();
    await mock.close();
    await server.stop();
  });

  /** Runs one request on `worker`, storing attempts in their write-once slots; returns its attempts. */
  async function request(worker: Worker, requestId: string, candidates: Candidate[], breakers?: BreakerGate) {
    const attempts: AttemptRecord[] = [];
    await executeCandidates(
      {
        requestId,
        request: { model: "x", messages: [{ role: "user", content: "hello" }] },
        stream: false,
        candidates,
        storedAttempts: [],
        providers,
        breakers: breakers ?? worker.view,
        pools: new ConcurrencyPools(
          () => ({ maxConcurrent: 4, maxQueued: 4, queueTimeoutMs: 1000 }),
          systemClock,
        ),
        policy: executionPolicy({ retriesPerCandidate: 0, totalMs: 5000 }),
        clock: systemClock,
        random: () => 0.5,
      },
      {
        async recordAttempt(record) {
          const context = { tenant: TENANT, requestId, correlationId: requestId };
          const id = `${requestId}:attempt.${record.data.attempt}`;
          const event =
            record.type === "attempt.succeeded"
              ? makeEvent(record.type, id, context, record.data, new Date())
              : makeEvent(record.type, id, context, record.data, new Date());
          await worker.store.append(attemptSubject(TENANT, requestId, record.data.attempt), event, {
            once: true,
          });
          attempts.push(record);
          return record;
        },
      },
    );
    return attempts.map((a) =>
      a.type === "attempt.succeeded"
        ? `${a.data.model} ok${a.data.probe ? " probe" : ""}${a.data.skipped ? ` skipped ${a.data.skipped.map((s) => `${s.model}:${s.reason}`)}` : ""}`
        : `${a.data.model} ${a.data.errorClass}`,
    );
  }

  it("opens on every instance, moves traffic on, lets one probe through after cooldown, and closes", async () => {
    const [a, b] = workers as [Worker, Worker];
    for (let i = 1; i <= 3; i++) {
      const trail = await request(i % 2 ? a : b, `req_fail${i}`, [flaky("mock-fault-500"), steady]);
      assert.deepEqual(trail, ["flaky server_error", "steady ok"]);
    }
    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.view.state("mock", "flaky") === "open", {
        what: `worker ${i} to see the breaker of mock/flaky open`,
      });
    }

    // While open, the flaky candidate is skipped without a call.
    assert.deepEqual(await request(b, "req_skip", [flaky("mock-fault-500"), steady]), [
      "steady ok skipped flaky:circuit_open",
    ]);

    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.view.state("mock", "flaky") === "half_open", {
        what: `worker ${i} to see mock/flaky half-open after the cooldown`,
        timeoutMs: 5000,
      });
    }
    // One probe slot across both instances.
    const admissions = await Promise.all([a.view.admit("mock", "flaky"), b.view.admit("mock", "flaky")]);
    const granted = admissions.filter((x) => x.admitted);
    assert.equal(granted.length, 1, `exactly one probe slot: ${JSON.stringify(admissions)}`);
    const refused = admissions.find((x) => !x.admitted);
    assert.equal(refused?.admitted, false);
    assert.equal(refused.reason, "probe_limit");
    // The refusal says when the held slot's lease runs out: within the probe lease, never past it.
    assert.ok(
      refused.retryAfterMs !== undefined && refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000,
      `retry after ${refused.retryAfterMs} ms`,
    );
    // A slot given back (its call never reached the provider) can be taken again at once.
    const taken = granted[0]!;
    assert.ok(taken.admitted && taken.lease !== undefined, "a probe slot carries its lease");
    await (admissions[0]!.admitted ? a : b).view.releaseProbe("mock", "flaky", taken.lease);
    const again = await (admissions[0]!.admitted ? b : a).view.admit("mock", "flaky");
    assert.equal(again.admitted, true, "the given-back slot is free for another instance");
    assert.equal((await a.view.admit("mock", "flaky")).admitted, false, "and then taken again");
    granted[0] = again;
    const prober = admissions[0]!.admitted ? b : a;
    const holder: BreakerGate = { isOpen: () => false, admit: async () => granted[0]! };
    // The provider has recovered: the probe succeeds.
    assert.deepEqual(await request(prober, "req_probe", [flaky("mock-small"), steady], holder), [
      "flaky ok probe",
    ]);

    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.view.state("mock", "flaky") === "closed", {
        what: `worker ${i} to see mock/flaky closed after the probe`,
      });
    }
    const transitions = await readEvents(a.nc, StreamNames.health, "bl.health.>");
    assert.deepEqual(
      transitions.map((t) => t.event.type),
      ["provider.breaker_opened", "provider.breaker_half_opened", "provider.breaker_closed"],
    );
    const opened = transitions[0]!.event;
    assert.ok(isEvent(opened, "provider.breaker_opened"));
    assert.equal(opened.id, `req_fail3:attempt.1:breaker_opened`);
    assert.equal(opened.data.model, "flaky");
  });

  it("health rebuilt from the stream equals the live KV projection", async () => {
    const kv = await new Kvm(workers[0]!.nc).open(KvBuckets.health);
    const replayed = await waitFor(
      async () => {
        const rebuilt = await replayProviderHealth(workers[0]!.nc, policy);
        const live = await readProviderHealth(kv);
        return diffProviderHealth(rebuilt, live).length === 0 && rebuilt.size > 0 ? rebuilt : undefined;
      },
      { what: "the live projection to catch up with the replay" },
    );
    assert.deepEqual([...replayed.keys()].sort(), ["h.mock.flaky", "h.mock.steady"]);
    assert.equal(replayed.get("h.mock.flaky")?.breaker.state, "closed");
    assert.deepEqual(await replayProviderHealth(workers[1]!.nc, policy), replayed);
  });

  it("`beamline providers health --verify` shows the breakers and agrees with the replay", async () => {
    const stdout = await runCli(server.url, ["providers", "health", "--verify"], {
      BEAMLINE_HEALTH_CONSECUTIVE_FAILURES_TO_OPEN: "3",
      BEAMLINE_HEALTH_MIN_ATTEMPTS: "100",
      BEAMLINE_HEALTH_COOLDOWN_MS: "1500",
    });
    assert.match(stdout, /verified: 2 record\(s\) equal the replay/);
    assert.match(stdout, /^mock\tflaky\tclosed\t/m);
  });

  it("under concurrent attempts from both instances, the windowed live fold still equals the replay", async () => {
    // Given attempts for two models appended concurrently through both instances' connections,
    // a quarter of them failures, while both projectors share the consumer.
    const kv = await new Kvm(workers[0]!.nc).open(KvBuckets.health);
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const worker = workers[i % 2]!;
      const requestId = `req_load${i}`;
      const context = { tenant: TENANT, requestId, correlationId: requestId };
      const model = i % 3 === 0 ? "load-a" : "load-b";
      const common = {
        attempt: 1,
        provider: "mock",
        model,
        upstreamModel: "mock-small",
        startedAt: new Date().toISOString(),
        durationMs: 1 + (i % 7),
        streamed: false,
      };
      const event =
        i % 4 === 0
          ? makeEvent(
              "attempt.failed",
              `${requestId}:attempt.1`,
              context,
              {
                ...common,
                errorClass: "server_error",
                error: { code: "BL_PROVIDER_ERROR", message: "x", httpStatus: 502, type: "api_error" },
                retryable: true,
                final: true,
                chunksSent: 0,
              },
              new Date(),
            )
          : makeEvent(
              "attempt.succeeded",
              `${requestId}:attempt.1`,
              context,
              {
                ...common,
                timeToFirstTokenMs: 1,
                usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
              },
              new Date(),
            );
      appends.push(worker.store.append(attemptSubject(TENANT, requestId, 1), event, { once: true }));
    }
    await Promise.all(appends);
    // Then the live records catch up with a replay of the stream, every attempt counted once.
    const replayed = await waitFor(
      async () => {
        const rebuilt = await replayProviderHealth(workers[0]!.nc, policy);
        const live = await readProviderHealth(kv);
        return diffProviderHealth(rebuilt, live).length === 0 ? rebuilt : undefined;
      },
      { what: "the live health projection to equal the replay after concurrent attempts", timeoutMs: 30_000 },
    );
    const counted = (key: string) => {
      const totals = replayed.get(key)?.totals;
      return (totals?.ok ?? 0) + (totals?.failed ?? 0);
    };
    assert.equal(counted("h.mock.load-a") + counted("h.mock.load-b"), 200);
  });
});
