import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Beamline's event signature: HMAC-SHA256, keyed by the deployment's event signing key, over
 * the subject the event is stored on and its payload bytes. It proves that a Beamline role
 * (gateway, ingress, admin) wrote the event there: nats-server stores no publisher identity,
 * so without it anyone who can publish could pose as the gateway or the admin. The subject is
 * part of what is signed, so a signed event copied to another subject (another tenant's
 * history, another key's slot) does not verify.
 *
 * Symmetric rather than Ed25519 because every role that checks signatures (worker, projectors)
 * also writes signed events (the ingress, the admin service), so a private/public split would
 * protect nothing, and HMAC is 5-10 times cheaper than an Ed25519 sign or verify
 * (measured: docs/architecture.md).
 */
export const SIGNATURE_HEADER = "bl-sig";

/** The scheme prefix of the header value; a later scheme gets a new prefix, old ones stay readable. */
const SCHEME = "hs256=";

/** The minimum key length, in bytes (the HMAC-SHA256 block is 64; 32 random bytes is plenty). */
export const SIGNING_KEY_MIN_BYTES = 32;

/** The `bl-sig` header value for an event stored on `subject` with `payload`. */
export function signEvent(key: Uint8Array, subject: string, payload: Uint8Array): string {
  return SCHEME + mac(key, subject, payload).toString("base64url");
}

/** How a stored event's signature checks out. */
export type SignatureCheck = "valid" | "missing" | "invalid";

/** Checks a `bl-sig` header value (constant-time comparison of the MAC). */
export function checkEventSignature(
  key: Uint8Array,
  subject: string,
  payload: Uint8Array,
  header: string | undefined,
): SignatureCheck {
  if (!header) return "missing";
  if (!header.startsWith(SCHEME)) return "invalid";
  const given = Buffer.from(header.slice(SCHEME.length), "base64url");
  const expected = mac(key, subject, payload);
  return given.length === expected.length && timingSafeEqual(given, expected) ? "valid" : "invalid";
}

function mac(key: Uint8Array, subject: string, payload: Uint8Array): Buffer {
  // The subject and payload are separated by a byte no subject contains, so no two
  // (subject, payload) pairs sign the same input.
  return createHmac("sha256", key).update(subject).update("\n").update(payload).digest();
}
