/**
 * Bounds on how deeply objects and arrays nest, checked without recursion. Encoders and
 * validators recurse; an input nested thousands deep overflows their stack. Every door
 * (the HTTP gateway's body parser, the event decoder) refuses such input before anything walks it.
 */

/**
 * The deepest nesting a decoded event may have. Above the gateway's bound on a request body
 * (64) plus the levels the envelope and event data wrap around the request.
 */
export const MAX_EVENT_DEPTH = 128;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when `text` opens more than `maxDepth` objects or arrays inside each other. A single
 * pass over the characters, strings skipped, so it runs before parsing and costs no recursion
 * whatever the input; it does not validate JSON (the parser does that next).
 */
export function jsonNestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** True when `value` (decoded JSON or CBOR) nests objects or arrays more than `maxDepth` deep. */
export function valueNestingExceeds(value: unknown, maxDepth: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== "object" || item === null || ArrayBuffer.isView(item)) continue;
    if (depth + 1 > maxDepth) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}
