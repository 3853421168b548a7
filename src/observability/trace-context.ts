import { isSpanContextValid, type SpanContext } from "@opentelemetry/api";

/**
 * The W3C Trace Context header `traceparent` (https://www.w3.org/TR/trace-context/, §3.2),
 * read and written here rather than through OpenTelemetry's core package, which every router
 * would load for these two functions alone (docs/architecture.md, "Router memory").
 *
 *   version "-" trace-id "-" parent-id "-" trace-flags     e.g. 00-<32 hex>-<16 hex>-01
 */
const LOWER_HEX = /^[0-9a-f]+$/;
/** A version-00 value's length; a later version may append fields after a dash at this offset. */
const VERSION_00_LENGTH = 55;

/** Lowercase hex, not all zeros: what the spec asks of a trace id and a parent id. */
function isNonZeroHex(text: string): boolean {
  return LOWER_HEX.test(text) && !/^0+$/.test(text);
}

/**
 * The remote span context a `traceparent` value names; undefined when it is not a valid one.
 * Version ff is refused; version 00 must be exactly its four fields; a later version is read by
 * its first four (the spec's forward compatibility). Optional whitespace around the value, as an
 * HTTP header may carry, is ignored.
 */
export function parseTraceparent(value: string): SpanContext | undefined {
  const text = value.trim();
  if (text.length < VERSION_00_LENGTH) return undefined;
  const version = text.slice(0, 2);
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return undefined;
  if (text.length > VERSION_00_LENGTH && (version === "00" || text[VERSION_00_LENGTH] !== "-")) {
    return undefined;
  }
  if (text[2] !== "-" || text[35] !== "-" || text[52] !== "-") return undefined;
  const traceId = text.slice(3, 35);
  const spanId = text.slice(36, 52);
  const flags = text.slice(53, VERSION_00_LENGTH);
  if (!isNonZeroHex(traceId) || !isNonZeroHex(spanId) || !/^[0-9a-f]{2}$/.test(flags)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
}

/** The version-00 `traceparent` naming `context`; undefined for an invalid span context. */
export function formatTraceparent(context: SpanContext): string | undefined {
  if (!isSpanContextValid(context)) return undefined;
  // Every flag passes on as it came (sampled, and the random flag of Trace Context level 2).
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}
