import { createHash } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import { type BeamlineEvent, decodeEvent, encodeEvent } from "../events/index.js";
import { SIGNATURE_HEADER } from "./event-signing.js";
import type { EventStore } from "./event-store.js";
import { isWrongLastSequence } from "./transient.js";

/** The last event on a subject and its stream sequence, or undefined when the subject is empty. */
export async function readLastWithSequence(
  store: EventStore,
  stream: string,
  subject: string,
): Promise<{ event: BeamlineEvent; seq: number } | undefined> {
  const jsm = await store.jsm;
  const stored = await jsm.direct.getMessage(stream, { last_by_subj: subject });
  if (!stored) return undefined;
  return { event: decodeEvent(stored.data, stored.header), seq: stored.seq };
}

/** A short digest of a document, so two different documents never share an event id. */
export function contentDigest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

export interface NextVersionedEvent {
  /** The version this publication gets: one above the last event's, 1 on an empty subject. */
  version: number;
  event: BeamlineEvent;
}

/**
 * Appends the next version of a document on its own subject. Each try reads the subject's last
 * event, builds the next one from it, and publishes with "expected last subject sequence" = the
 * sequence read, so two writers racing cannot both take one version: the loser re-reads and
 * takes the next. The event id includes the version and a digest of the content, so a retried
 * publish of the same document is recognised as a duplicate and returns the same version.
 */
export async function appendNextVersion(
  store: EventStore,
  stream: string,
  subject: string,
  build: (last: BeamlineEvent | undefined) => NextVersionedEvent,
): Promise<{ version: number; event: BeamlineEvent; duplicate: boolean }> {
  for (let tries = 0; tries < 20; tries++) {
    const last = await readLastWithSequence(store, stream, subject);
    const next = build(last?.event);
    const encoded = encodeEvent(next.event);
    const h = natsHeaders();
    for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
    // Policies and catalogs are configuration: projected only when signed, like every append.
    if (store.signer) h.set(SIGNATURE_HEADER, store.signer.sign(subject, encoded.payload));
    try {
      const ack = await store.js.publish(subject, encoded.payload, {
        msgID: next.event.id,
        headers: h,
        expect: { lastSubjectSequence: last?.seq ?? 0 },
      });
      return { version: next.version, event: next.event, duplicate: ack.duplicate };
    } catch (error) {
      if (!isWrongLastSequence(error)) {
        throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not store ${next.event.type} on ${subject}`, {
          cause: error,
        });
      }
    }
  }
  throw new BeamlineError("BL_INTERNAL", `publishing on ${subject} kept losing races; try again`);
}
