import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { BeamlineError } from "../errors/index.js";

/**
 * Compares the bearer token of an `Authorization` header with `expected` in constant time:
 * both are hashed first (SHA-256), so neither the content nor the length of either token
 * shows in the time the comparison takes. A missing or malformed header compares like a wrong
 * token, so it takes the same time too.
 */
export function bearerTokenMatches(authorization: string | undefined, expected: string): boolean {
  const match = typeof authorization === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  const presented = createHash("sha256")
    .update(match?.[1] ?? "")
    .digest();
  const wanted = createHash("sha256").update(expected).digest();
  return timingSafeEqual(presented, wanted) && match !== null;
}

export interface AuthFailureLimits {
  /** Failed attempts an address may make in a row. */
  failureBurst: number;
  /** An address earns one more failed attempt this often. */
  failureRefillMs: number;
}

/** Addresses tracked at once; past it the least recently seen is forgotten (memory stays bounded). */
const MAX_TRACKED_ADDRESSES = 10_000;

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * A token bucket of failed operator authentications per client address. Each failure takes a
 * token; with none left the address is refused (even with the right token, or guessing would
 * go on unhindered) until one is earned back, one per `failureRefillMs`. So the real operator
 * is never locked out for longer than that once the failures stop, and an address that is not
 * failing is never slowed. Time is passed in (`now`, ms), so the arithmetic is testable.
 */
export class AuthFailureLimiter {
  readonly #limits: AuthFailureLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: AuthFailureLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  waitMs(address: string): number {
    const bucket = this.#refilled(address);
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.ceil((1 - bucket.tokens) * this.#limits.failureRefillMs);
  }

  /** Takes a token for a failed attempt from `address`. */
  recordFailure(address: string): void {
    const bucket = this.#refilled(address) ?? { tokens: this.#limits.failureBurst, atMs: this.#now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.#buckets.delete(address);
    this.#buckets.set(address, bucket);
    if (this.#buckets.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }

  /** The address's bucket brought up to now; a full bucket is dropped (it holds nothing). */
  #refilled(address: string): Bucket | undefined {
    const bucket = this.#buckets.get(address);
    if (bucket === undefined) return undefined;
    const now = this.#now();
    const earned = Math.max(0, now - bucket.atMs) / this.#limits.failureRefillMs;
    bucket.tokens = Math.min(this.#limits.failureBurst, bucket.tokens + earned);
    bucket.atMs = now;
    if (bucket.tokens >= this.#limits.failureBurst) {
      this.#buckets.delete(address);
      return undefined;
    }
    return bucket;
  }
}

/**
 * The check in front of an operator surface (admin API, metrics): refuses an address over its
 * failure budget with `BL_AUTH_RATE_LIMITED` (429 and `retry-after`), else compares the bearer
 * token and refuses a wrong one with `unauthorized`, counting the failure.
 */
export function checkOperatorToken(
  request: FastifyRequest,
  options: { token: string; limiter: AuthFailureLimiter; unauthorized: () => BeamlineError },
): void {
  const address = request.ip;
  const waitMs = options.limiter.waitMs(address);
  if (waitMs > 0) {
    throw new BeamlineError(
      "BL_AUTH_RATE_LIMITED",
      `Too many failed authentications from this address; retry in ${Math.ceil(waitMs / 1000)} s.`,
      { retryAfterMs: waitMs },
    );
  }
  if (!bearerTokenMatches(request.headers.authorization, options.token)) {
    options.limiter.recordFailure(address);
    throw options.unauthorized();
  }
}
