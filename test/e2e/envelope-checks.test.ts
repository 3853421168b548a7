import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { readRequestHistory, readTenantUsage } from "../../replay/index.js";
import {
  apiKeySubject,
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  encodeEvent,
  ingressSubject,
  liveInboxPrefix,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { ConsumerNames, EventStore, StreamNames } from "../../src/nats/index.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/index.js";
import {
  generateApiKey,
  hashApiKey,
  issueProducer,
  keyPrefix,
  openProducerAdmin,
  openTenancyAdmin,
} from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { waitFor } from "../support/index.js";
import { testSigner } from "../support/signing.js";

/** How soon a revocation must stop a producer (the issue: "within seconds"). */
const REVOCATION_BOUND_MS = 5_000;

function accepted(tenant: string, requestId: string, extra: Partial<EventData<"request.accepted">> = {}) {
  return makeEvent(
    "request.accepted",
    `${requestId}:${RequestSlots.accepted}`,
    { tenant, requestId, correlationId: requestId },
    {
      request: { model: "mock-small", messages: [{ role: "user", content: `hello ${requestId}` }] },
      frontDoor: "nats",
      stream: false,
      ...extra,
    },
    new Date(),
  );
}

/**
 * Beamline-level checks of who may ask for what (docs/security.md, "Producers and the
 * envelope"). NATS runs without auth here, so anyone can publish anything: what these tests
 * show is that nothing a stranger publishes is served, billed, projected or answered.
 */
describe("never trust the envelope", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let js: JetStreamClient;
  /** A client with no Beamline key: what anyone who reaches NATS is. */
  let stranger: NatsConnection;
  let strangerStore: EventStore;
  let otherKeyId: string;

  before(async () => {
    beamline = await startTestBeamline();
    js = jetstream(beamline.nc);
    stranger = await connect({ servers: beamline.server.url, name: "stranger" });
    strangerStore = new EventStore(stranger);
    const admin = await openTenancyAdmin(beamline.store);
    await admin.createTenant({ id: "victim" });
    otherKeyId = (await admin.issueKey("victim", {})).keyId;
  });
  after(async () => {
    strangerStore?.close();
    await stranger?.close();
    await beamline?.stop();
  });

  /** Stores a request as the gateway would (signed) and waits until the worker has dealt with it. */
  async function storeSignedAndSettle(event: BeamlineEvent<"request.accepted">): Promise<void> {
    await beamline.store.append(requestSubject(event.tenant, event.requestId, RequestSlots.accepted), event, {
      once: true,
    });
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
  }

  async function historyTypes(tenant: string, requestId: string): Promise<string[]> {
    return (await readRequestHistory(beamline.nc, tenant, requestId)).map(({ event }) => event.type);
  }

  it("serves no request for a tenant that was never created", async () => {
    const requestId = newRequestId();
    await storeSignedAndSettle(accepted("invented", requestId));
    assert.deepEqual(await historyTypes("invented", requestId), ["request.accepted"]);
    assert.deepEqual(await readTenantUsage(beamline.nc, "invented"), []);
    assert.match(beamline.logs(), /"reason":"unknown_tenant"/);
  });

  it("serves no request whose API key belongs to another tenant", async () => {
    const requestId = newRequestId();
    await storeSignedAndSettle(accepted("dev", requestId, { apiKeyId: otherKeyId }));
    assert.deepEqual(await historyTypes("dev", requestId), ["request.accepted"]);
    assert.equal(
      (await readTenantUsage(beamline.nc, "dev")).filter(({ event }) => event.requestId === requestId).length,
      0,
    );
    assert.match(beamline.logs(), /"reason":"foreign_key"/);
  });

  it("writes nothing into another tenant's usage for a replyTo aimed at it, signed or not", async () => {
    const signed = newRequestId();
    const unsigned = newRequestId();
    const aimed = (id: string) => accepted("dev", id, { replyTo: `bl.usage.victim.${id}` });
    await storeSignedAndSettle(aimed(signed));
    await strangerStore.append(requestSubject("dev", unsigned, RequestSlots.accepted), aimed(unsigned));
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
    assert.deepEqual(await readTenantUsage(beamline.nc, "victim"), []);
    assert.deepEqual(await historyTypes("dev", signed), ["request.accepted"]);
    assert.deepEqual(await historyTypes("dev", unsigned), ["request.accepted"]);
    assert.match(beamline.logs(), /"reason":"reply_to"/);
  });

  it("serves no request a stranger published straight onto the request stream", async () => {
    const requestId = newRequestId();
    const inbox = `bl.live.gw-stranger.${requestId}`;
    let answered = false;
    stranger.subscribe(inbox, {
      callback: () => {
        answered = true;
      },
    });
    await strangerStore.append(
      requestSubject("dev", requestId, RequestSlots.accepted),
      accepted("dev", requestId, { replyTo: inbox }),
    );
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
    await stranger.flush();
    assert.deepEqual(await historyTypes("dev", requestId), ["request.accepted"]);
    assert.equal(answered, false, "nothing is sent to the reply subject of an unsigned request");
    assert.match(beamline.logs(), /"trust":"unsigned"/);
  });

  it("a forged apikey.issued, unsigned or signed with another key, creates no key", async () => {
    const forge = async (store: EventStore) => {
      const key = generateApiKey();
      const keyId = `key_${hashApiKey(key).slice(0, 16)}`;
      const event = makeEvent(
        "apikey.issued",
        `apikey.issued:${keyId}`,
        { tenant: "dev", requestId: "", correlationId: keyId },
        { keyId, keyHash: hashApiKey(key), keyPrefix: keyPrefix(key) },
        new Date(),
      );
      await store.append(apiKeySubject("dev", keyId), event, { once: true });
      return key;
    };
    const otherSigner = new EventStore(stranger, {
      signer: testSigner(randomBytes(32).toString("base64url")),
    });
    const keys = [await forge(strangerStore), await forge(otherSigner)];
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.config, ConsumerNames.apiKeysProjector);
    for (const key of keys) {
      const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(response.status, 401);
    }
    assert.match(beamline.logs(), /"trust":"forged"/);
  });

  describe("producers on the ingress", () => {
    let producerId: string;
    before(async () => {
      ({ producerId } = await issueProducer({ store: beamline.store, now: new Date() }, "dev", {}));
    });

    /** Publishes on the ingress and resolves with the terminal event on the producer's inbox. */
    async function ask(
      subjectTenant: string,
      eventTenant: string,
      asProducer: string,
    ): Promise<BeamlineEvent> {
      const requestId = newRequestId();
      const inbox = `${liveInboxPrefix(asProducer)}${requestId}`;
      const terminal = new Promise<BeamlineEvent>((resolve) => {
        const sub = beamline.nc.subscribe(inbox, {
          callback: (_error, msg: Msg) => {
            if (msg.headers?.get(LiveHeaders.kind) !== LiveKinds.terminal) return;
            sub.unsubscribe();
            resolve(decodeEvent(msg.data, msg.headers));
          },
        });
      });
      const encoded = encodeEvent(accepted(eventTenant, requestId, { replyTo: inbox }));
      const h = natsHeaders();
      for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
      await js.publish(ingressSubject(subjectTenant, asProducer, requestId), encoded.payload, { headers: h });
      return terminal;
    }

    it("producer A cannot publish for tenant B: the registry and the subject disagree", async () => {
      const terminal = await ask("victim", "victim", producerId);
      assert.equal(terminal.type, "request.failed");
      assert.equal((terminal.data as EventData<"request.failed">).error.code, "BL_PRODUCER_UNAUTHORIZED");
      assert.deepEqual(await readRequestHistory(beamline.nc, "victim", terminal.requestId), []);
    });

    it("a revoked producer is refused within seconds", async () => {
      const served = await ask("dev", "dev", producerId);
      assert.equal(served.type, "request.completed");
      const revokedAt = Date.now();
      await (await openProducerAdmin(beamline.store)).revoke(producerId);
      let terminal = await ask("dev", "dev", producerId);
      while (terminal.type !== "request.failed" && Date.now() - revokedAt < REVOCATION_BOUND_MS) {
        terminal = await ask("dev", "dev", producerId);
      }
      const elapsedMs = Date.now() - revokedAt;
      assert.equal(terminal.type, "request.failed", `still served ${elapsedMs} ms after the revocation`);
      assert.equal((terminal.data as EventData<"request.failed">).error.code, "BL_PRODUCER_UNAUTHORIZED");
      assert.ok(elapsedMs <= REVOCATION_BOUND_MS, `refused after ${elapsedMs} ms`);
      // The refusal is on record for operators, outside the tenant's history.
      const jsm: JetStreamManager = await jetstreamManager(beamline.nc);
      await waitFor(
        async () => {
          const dead = await jsm.direct.getMessage(StreamNames.deadLetter, {
            last_by_subj: "bl.dead.ingress",
          });
          return dead?.header.get("bl-dead-code") === "BL_PRODUCER_UNAUTHORIZED";
        },
        { what: "the ingress refusal in the dead-letter stream" },
      );
    });
  });
});
