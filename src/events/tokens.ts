import { BeamlineError } from "../errors/index.js";

/**
 * Tenant ids and request ids become NATS subject tokens, so they may not contain `.`, `*`,
 * `>` or white space. The allowed alphabet is deliberately narrow: letters, digits, `_`, `-`.
 */
const SAFE_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` can stand as one subject token (tenant id, request id, key id). */
export function isSafeToken(value: string): boolean {
  return SAFE_TOKEN.test(value);
}

function assertToken(
  value: string,
  what: string,
  code: "BL_INVALID_TENANT_ID" | "BL_BAD_REQUEST",
  param: string,
) {
  if (!isSafeToken(value)) {
    throw new BeamlineError(
      code,
      `${what} ${JSON.stringify(value.slice(0, 80))} is not valid: use 1-64 characters of A-Z, a-z, 0-9, '_' or '-'`,
      { param },
    );
  }
  return value;
}

/** Returns the tenant id or throws `BL_INVALID_TENANT_ID` with a message that says what is allowed. */
export function assertTenantId(value: string): string {
  return assertToken(value, "tenant id", "BL_INVALID_TENANT_ID", "tenant");
}

/** Returns the request id or throws `BL_BAD_REQUEST`. */
export function assertRequestId(value: string): string {
  return assertToken(value, "request id", "BL_BAD_REQUEST", "request_id");
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A request id: 48 bits of milliseconds then 80 random bits, Crockford base32 (a ULID), so ids
 * sort by arrival time in listings and are safe subject tokens. Time and the 10 random bytes
 * are passed in (this module stays pure); `newRequestId` in the gateway draws them.
 */
export function formatRequestId(nowMs: number, random: Uint8Array): string {
  let time = "";
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rest = "";
  let bits = 0;
  let value = 0;
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      rest += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `req_${time}${rest}`;
}
