import { createHash } from "node:crypto";
import type { ChatRequest, EmbeddingsRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import { RequestSlots, requestSubject } from "../events/index.js";
import { type EventStore, StreamNames } from "../nats/index.js";
import type { TerminalEvent } from "../stages/index.js";

/** The request header a client sets to make a retry return the first attempt's outcome. */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/** Longest accepted key: room for a UUID, a ULID or a client's own composite key. */
const MAX_KEY_LENGTH = 255;
/** Printable ASCII only: the key is hashed, never put in a subject, but it is logged. */
const PRINTABLE = /^[\x21-\x7e]+$/;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The client's `Idempotency-Key`, or undefined when it sent none; throws `BL_BAD_REQUEST`
 * (`param: Idempotency-Key`) for an empty, over-long or non-printable key, or several of them.
 */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) || value.length === 0 || value.length > MAX_KEY_LENGTH || !PRINTABLE.test(value)) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `Send one Idempotency-Key of 1-${MAX_KEY_LENGTH} printable ASCII characters (a UUID, say).`,
      { param: "Idempotency-Key" },
    );
  }
  return value;
}

/**
 * The request id of `key` within `tenant`: `idk_` and 26 Crockford base32 characters of
 * SHA-256(tenant, key). Every gateway derives the same id, so a retry — through any gateway,
 * after any stall — writes the same write-once `accepted` slot, which JetStream refuses to
 * store twice. Keys of two tenants never meet (the tenant is hashed in, and is in the subject).
 */
export function idempotentRequestId(tenant: string, key: string): string {
  const digest = createHash("sha256").update(tenant).update("\0").update(key).digest();
  let id = "";
  let bits = 0;
  let value = 0;
  for (const byte of digest) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && id.length < 26) {
      id += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (id.length === 26) break;
  }
  return `idk_${id}`;
}

/** JSON with object keys sorted and undefined fields left out: equal requests, equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A digest of the canonical request: two bodies that mean the same request have the same one. */
export function requestFingerprint(chat: ChatRequest | EmbeddingsRequest): string {
  return createHash("sha256").update(canonicalJson(chat)).digest("base64url");
}

/** The 422 of a key already used by `requestId` with another body. */
export function idempotencyKeyReused(requestId: string): BeamlineError {
  return new BeamlineError(
    "BL_IDEMPOTENCY_KEY_REUSED",
    `This Idempotency-Key was already used for request ${requestId} with a different body. ` +
      "Use a new key for a new request; a retry must send the same body.",
    { param: "Idempotency-Key" },
  );
}

/**
 * Whether a retry may share the stored request's outcome: throws `BL_IDEMPOTENCY_KEY_REUSED`
 * when the key was used for another request, `BL_IDEMPOTENCY_KEY_EXPIRED` when the original
 * was accepted longer than `windowMs` before `nowMs`.
 */
export function checkIdempotentRetry(input: {
  requestId: string;
  retry: ChatRequest | EmbeddingsRequest;
  original: ChatRequest | EmbeddingsRequest;
  originalTimeMs: number;
  nowMs: number;
  windowMs: number;
}): void {
  if (requestFingerprint(input.retry) !== requestFingerprint(input.original)) {
    throw idempotencyKeyReused(input.requestId);
  }
  if (input.nowMs - input.originalTimeMs > input.windowMs) {
    throw new BeamlineError(
      "BL_IDEMPOTENCY_KEY_EXPIRED",
      `This Idempotency-Key belongs to request ${input.requestId}, accepted more than ` +
        `${Math.round(input.windowMs / 60_000)} min ago, outside the idempotency window. Use a new key.`,
      { param: "Idempotency-Key" },
    );
  }
}

/**
 * Requests with an `Idempotency-Key` this gateway is answering now, by request id. A second
 * request with the same key on the same gateway joins the first one's outcome instead of
 * waiting beside it (one waiter per request id and gateway).
 */
export class IdempotentInFlight<Outcome> {
  private readonly running = new Map<string, { fingerprint: string; outcome: Promise<Outcome> }>();

  get(requestId: string): { fingerprint: string; outcome: Promise<Outcome> } | undefined {
    return this.running.get(requestId);
  }

  /** Runs `answer` as the one answer of `requestId` on this gateway until it settles. */
  async run(requestId: string, fingerprint: string, answer: () => Promise<Outcome>): Promise<Outcome> {
    const outcome = answer();
    this.running.set(requestId, { fingerprint, outcome });
    try {
      return await outcome;
    } finally {
      this.running.delete(requestId);
    }
  }
}

/** A retry that found its original elsewhere reads the terminal slot at these growing intervals. */
const TERMINAL_POLL_FIRST_MS = 100;
const TERMINAL_POLL_MAX_MS = 1_000;

/**
 * Reads a request's terminal slot at growing intervals until it is written or
 * `polling.stopped`: the wait of a retry whose original was accepted by another gateway (or an
 * earlier, cut-off attempt), since that request's live notices go to its own reply subject.
 */
export async function pollTerminal(
  store: EventStore,
  tenant: string,
  requestId: string,
  polling: { stopped: boolean },
): Promise<TerminalEvent | undefined> {
  const subject = requestSubject(tenant, requestId, RequestSlots.terminal);
  // The first read is at once: a retry of a request that already ended answers without a wait.
  let delayMs = 0;
  while (!polling.stopped) {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (polling.stopped) break;
    // A read that fails (NATS away again) is retried at the next interval.
    const stored = await store.readLast(StreamNames.requests, subject).catch(() => undefined);
    if (stored) return stored as TerminalEvent;
    delayMs = delayMs === 0 ? TERMINAL_POLL_FIRST_MS : Math.min(delayMs * 2, TERMINAL_POLL_MAX_MS);
  }
  return undefined;
}
