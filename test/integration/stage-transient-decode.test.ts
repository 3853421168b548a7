import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, TimeoutError } from "@nats-io/transport-node";
import type { BeamlineError } from "../../src/errors/index.js";
import type { BeamlineEvent } from "../../src/events/index.js";
import { type RunningStage, runStage } from "../../src/nats/consumer-runner.js";
import type { EventStore } from "../../src/nats/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { createLogger, createMetrics } from "../../src/observability/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { createTestTenant, signedStore } from "../support/signing.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

/**
 * A message the stage cannot decode because NATS failed for a moment (opening sealed content
 * reads the tenant's data key from KV) is not poison: it comes back and is handled, and on its
 * last delivery the stage ends the request before dead-lettering it. Dead-lettering it at once
 * left an accepted request without a terminal event in the cluster fault suite.
 */
describe("a stage whose event cannot be decoded for a transient NATS failure", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  let stage: RunningStage | undefined;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    store = signedStore(nc);
  });
  after(async () => {
    await stage?.stop();
    await nc?.close();
    await server?.stop();
  });

  /** The store, except that its first `failures` decodes fail as a NATS request timeout would. */
  function flakyStore(failures: number): EventStore {
    let left = failures;
    return new Proxy(store, {
      get(target, property, receiver) {
        if (property === "decodeStored") {
          return (...args: Parameters<EventStore["decodeStored"]>) => {
            // Only the opening read fails: the envelope alone needs no key.
            if (left > 0 && args[1]?.open !== false) {
              left -= 1;
              return Promise.reject(new TimeoutError());
            }
            return target.decodeStored(...args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  }

  async function runTenantsStage(
    flaky: EventStore,
    maxDeliver: number,
  ): Promise<{ handled: string[]; gaveUp: Array<{ id: string; code: string }> }> {
    const handled: string[] = [];
    const gaveUp: Array<{ id: string; code: string }> = [];
    await stage?.stop();
    stage = await runStage({
      store: flaky,
      handler: {
        name: ConsumerNames.tenantsProjector,
        stream: StreamNames.config,
        readsContent: true,
        async handle(event: BeamlineEvent) {
          handled.push(event.id);
        },
        async giveUp(event: BeamlineEvent, error: BeamlineError) {
          gaveUp.push({ id: event.id, code: error.code });
        },
      },
      log: createLogger({ level: "silent" }),
      metrics: createMetrics({ defaultMetrics: false }),
      ackWaitMs: 30_000,
      maxDeliver,
    });
    return { handled, gaveUp };
  }

  /** Records a tenant as created and returns its event's id (what the stage sees). */
  async function appendTenant(tenant: string): Promise<string> {
    await createTestTenant(store, tenant);
    return `tenant.created:${tenant}`;
  }

  async function deadLetterCode(): Promise<string | undefined> {
    const jsm = await jetstreamManager(nc);
    const dead = await jsm.direct
      .getMessage(StreamNames.deadLetter, { last_by_subj: `bl.dead.${ConsumerNames.tenantsProjector}` })
      .catch(() => undefined);
    return dead?.header.get("bl-dead-code");
  }

  it("retries it and handles it once NATS answers, dead-lettering nothing", async () => {
    const { handled, gaveUp } = await runTenantsStage(flakyStore(2), 5);
    const id = await appendTenant("flaky-a");
    await waitFor(() => handled.includes(id), { what: "the event handled after two failed reads" });
    assert.deepEqual(gaveUp, []);
    assert.equal(await deadLetterCode(), undefined);
  });

  it("on its last delivery ends the request from the envelope, then dead-letters it", async () => {
    const { handled, gaveUp } = await runTenantsStage(flakyStore(Number.POSITIVE_INFINITY), 2);
    const id = await appendTenant("flaky-b");
    await waitFor(() => gaveUp.length > 0, { what: "the stage to give up after two deliveries" });
    assert.deepEqual(gaveUp, [{ id, code: "BL_NATS_UNAVAILABLE" }]);
    assert.deepEqual(handled, []);
    await waitFor(async () => (await deadLetterCode()) === "BL_NATS_UNAVAILABLE", {
      what: "the dead-letter copy with its code",
    });
  });
});
