import { Pool } from "undici";
import { createSseParser, type SseEvent } from "../src/providers/index.js";
import { LatencyRecorder } from "./stats.js";
import type { Target } from "./targets.js";

/** Per-stream ceiling on waiting for headers, or for the next bytes of the body. */
const STREAM_TIMEOUT_MS = 30_000;

/**
 * The streamed chat request of scenario 4. The user message is long enough for the mock's
 * echo (about 105 characters) to be streamed in token-sized pieces, and usage is asked for,
 * as most streaming clients do.
 */
export const STREAM_BODY = JSON.stringify({
  model: "mock-small",
  messages: [
    {
      role: "user",
      content: "Summarise in one paragraph why an event log helps an AI request router recover from crashes.",
    },
  ],
  stream: true,
  stream_options: { include_usage: true },
});

/** What the streams of one measured window looked like, beyond their total latency. */
export interface StreamStats {
  /** Request sent → first SSE event received, per successful stream. */
  ttfb: LatencyRecorder;
  /** `data:` events per successful stream ([DONE] not counted). */
  minEvents: number;
  maxEvents: number;
}

/** An HTTP target whose calls are streams; its stats cover the calls since the last reset. */
export interface StreamTarget extends Target {
  stats(): StreamStats;
  resetStats(): void;
}

/**
 * A streamed `POST <path>` of {@link STREAM_BODY} over an undici pool holding one connection
 * per concurrent stream. A call succeeds only on a 200 `text/event-stream` whose every event
 * parses as a `chat.completion.chunk` and whose last event is `data: [DONE]`; an error event (the
 * gateway's `data: {"error":…}` after a failure mid-stream), anything after [DONE], or an end
 * without [DONE] fails it.
 */
export function sseChatTarget(options: {
  origin: string;
  path: string;
  connections: number;
  headers?: Record<string, string>;
  /** The request body; {@link STREAM_BODY} unless a test picks another. */
  body?: string;
}): StreamTarget {
  const body = options.body ?? STREAM_BODY;
  const pool = new Pool(options.origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: STREAM_TIMEOUT_MS,
    bodyTimeout: STREAM_TIMEOUT_MS,
  });
  const headers = { "content-type": "application/json", accept: "text/event-stream", ...options.headers };
  let completed = 0;
  let stats = freshStats();
  return {
    async call() {
      const t0 = performance.now();
      const response = await pool.request({ method: "POST", path: options.path, headers, body });
      const type = String(response.headers["content-type"] ?? "");
      if (response.statusCode !== 200 || !type.startsWith("text/event-stream")) {
        const text = await response.body.text();
        throw new Error(`HTTP ${response.statusCode} (${type}): ${text.slice(0, 200)}`);
      }
      const parser = createSseParser();
      let events = 0;
      let done = false;
      let firstEventAt: number | undefined;
      let failure: string | undefined;
      const check = (event: SseEvent) => {
        firstEventAt ??= performance.now();
        if (done) failure = `an event after [DONE]: ${shown(event)}`;
        else if (event.event === undefined && event.data === "[DONE]") done = true;
        else if (event.event === undefined && isChunk(event.data)) events += 1;
        else failure = `error or unexpected event: ${shown(event)}`;
      };
      for await (const part of response.body) {
        for (const event of parser.push(part as Buffer)) if (failure === undefined) check(event);
        if (failure !== undefined) break;
      }
      if (failure === undefined) {
        for (const event of parser.end()) check(event);
        if (parser.endedMidEvent()) failure = "a partial event at the end";
      }
      if (failure === undefined && !done) failure = `the stream ended without [DONE] after ${events} events`;
      if (failure !== undefined) {
        response.body.destroy();
        throw new Error(failure);
      }
      completed += 1;
      stats.ttfb.recordOk((firstEventAt ?? performance.now()) - t0);
      stats.minEvents = Math.min(stats.minEvents, events);
      stats.maxEvents = Math.max(stats.maxEvents, events);
    },
    completed: () => completed,
    stats: () => stats,
    resetStats() {
      stats = freshStats();
    },
    close: () => pool.close(),
  };
}

/** An event as it was written (one data line is all this client expects), cut for a message. */
function shown(event: SseEvent): string {
  const type = event.event === undefined ? "" : `event: ${event.event}\n`;
  return `${type}data: ${event.data}`.slice(0, 200);
}

/** Parsed, not just searched: a truncated or malformed frame must fail the stream. */
function isChunk(data: string): boolean {
  try {
    const value = JSON.parse(data) as { object?: unknown; error?: unknown } | null;
    return value?.object === "chat.completion.chunk" && value.error === undefined;
  } catch {
    return false;
  }
}

function freshStats(): StreamStats {
  return { ttfb: new LatencyRecorder(), minEvents: Number.POSITIVE_INFINITY, maxEvents: 0 };
}
