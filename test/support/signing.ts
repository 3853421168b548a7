import type { NatsConnection } from "@nats-io/transport-node";
import { configSubject, makeEvent } from "../../src/events/index.js";
import { EventSigner, EventStore } from "../../src/nats/index.js";

/**
 * The event signing key of every test deployment (base64url of 32 bytes): test Beamlines,
 * worker processes and CLI runs share it, as the processes of one real deployment share
 * BEAMLINE_EVENT_SIGNING_KEY. Fixed so a test can also write what Beamline would (signed) and
 * what a stranger would (unsigned, or signed with another key).
 */
export const TEST_EVENT_SIGNING_KEY = "dGVzdC1ldmVudC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5YWI";

/** A signer with the test deployment's key (no unsigned history is trusted). */
export function testSigner(key: string = TEST_EVENT_SIGNING_KEY): EventSigner {
  return new EventSigner({ key: Buffer.from(key, "base64url"), since: undefined, source: "test" });
}

/** An event store that writes as Beamline's own roles do: every append signed with the test key. */
export function signedStore(nc: NatsConnection): EventStore {
  return new EventStore(nc, { signer: testSigner() });
}

/**
 * Records tenant `tenant` as created (signed, write-once), as `tenants create` would: the worker
 * serves no request of a tenant that was never created. For tests that run workers without a
 * gateway or projector.
 */
export async function createTestTenant(store: EventStore, tenant: string): Promise<void> {
  const event = makeEvent(
    "tenant.created",
    `tenant.created:${tenant}`,
    { tenant, requestId: "", correlationId: `tenant:${tenant}` },
    { name: tenant },
    new Date(),
  );
  await store.append(configSubject("tenant", tenant), event, { once: true });
}
