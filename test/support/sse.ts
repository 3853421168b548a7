import { createSseParser, type SseEvent } from "../../src/providers/index.js";

/**
 * The events of a whole SSE body, read with the router's own parser so tests see a stream the
 * way a provider adapter would. An event the body ends in the middle of is dropped, as the
 * standard says.
 */
export function sseEvents(body: string | Uint8Array): SseEvent[] {
  const parser = createSseParser();
  return [...parser.push(body), ...parser.end()];
}

/** The `data` of every event of a whole SSE body, JSON-parsed; the `[DONE]` marker stays a string. */
export function sseData(body: string | Uint8Array): unknown[] {
  return sseEvents(body).map(({ data }) => (data === "[DONE]" ? data : (JSON.parse(data) as unknown)));
}
