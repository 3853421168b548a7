/**
 * Names of provider/model health in NATS: KV keys of the `bl_health` bucket and subjects of
 * the BL_HEALTH stream. Provider and model names may hold characters a subject token or KV
 * key cannot (model names contain dots: `gpt-4.1`), so each is escaped reversibly: letters,
 * digits and `-` stay, every other UTF-8 byte becomes `_` and two hex digits.
 */

/** Root of the breaker transition subjects: `bl.health.<provider>.<model>`. */
export const HEALTH_SUBJECT_ROOT = "bl.health";

/** A name with nothing to escape is its own token. */
const NOTHING_TO_ESCAPE = /^[A-Za-z0-9-]*$/;
/** Tokens of the names seen so far: a deployment has a bounded set of providers and models. */
const escaped = new Map<string, string>();
const MAX_REMEMBERED = 1_024;

/**
 * Escapes one name into a subject token / KV key token. Every attempt names its provider and
 * model, so a name's token is worked out once and remembered (escaping a byte at a time was
 * 1 % of the router's allocations under load).
 */
export function healthToken(name: string): string {
  if (NOTHING_TO_ESCAPE.test(name)) return name;
  let token = escaped.get(name);
  if (token === undefined) {
    token = escapeName(name);
    if (escaped.size < MAX_REMEMBERED) escaped.set(name, token);
  }
  return token;
}

function escapeName(name: string): string {
  let out = "";
  for (const byte of Buffer.from(name, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(char) ? char : `_${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Inverse of {@link healthToken}. */
export function fromHealthToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "_") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** KV key of one provider/model's health record. */
export function healthKey(provider: string, model: string): string {
  return `h.${healthToken(provider)}.${healthToken(model)}`;
}

/** KV filter of every health record. */
export const HEALTH_KEY_FILTER = "h.>";

/** KV key of one provider/model's half-open probe leases. */
export function probeKey(provider: string, model: string): string {
  return `probe.${healthToken(provider)}.${healthToken(model)}`;
}

/** Subject of one provider/model's breaker transitions. */
export function healthSubject(provider: string, model: string): string {
  return `${HEALTH_SUBJECT_ROOT}.${healthToken(provider)}.${healthToken(model)}`;
}
