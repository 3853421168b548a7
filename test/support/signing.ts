import type { NatsConnection } from "@nats-io/transport-node";
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
