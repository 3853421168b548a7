/**
 * An incremental Server-Sent Events parser following the WHATWG event-stream rules: lines
 * end in LF, CRLF or a lone CR; `:` starts a comment; one space after the field colon is
 * dropped; several `data` lines of one event are joined with LF; a blank line dispatches.
 * Input may be split anywhere, including inside a CRLF pair or a UTF-8 multibyte character.
 * `id` sets the last event id, which every later event carries until another `id` line
 * changes it (an empty one clears it; one containing NUL is ignored). `retry` is read and
 * ignored: nothing here reconnects. Pure: no I/O, no clock. This is the one SSE reader of the
 * project: provider adapters, test clients and the bench all parse with it.
 */

/** One dispatched event. `event` is absent when the stream did not name the event type. */
export interface SseEvent {
  event?: string;
  data: string;
  /** The last event id in effect when the event was dispatched; absent while none is set. */
  id?: string;
}

export interface SseParser {
  /** Feeds the next piece of the stream; returns the events it completed, in order. */
  push(input: Uint8Array | string): SseEvent[];
  /**
   * Ends the stream. An event whose blank line never came is discarded, as the standard
   * says; {@link SseParser.endedMidEvent} tells the caller whether that happened.
   */
  end(): SseEvent[];
  /**
   * After {@link SseParser.end}: whether the stream stopped inside an event — an unterminated
   * line, or field lines without the blank line that dispatches them.
   */
  endedMidEvent(): boolean;
}

const LF = 10;
const CR = 13;
const BYTE_ORDER_MARK = "\uFEFF";

/** Creates a parser for one stream. Feed bytes or strings, not both. */
export function createSseParser(): SseParser {
  // The BOM is stripped below for bytes and strings alike, so the decoder must keep it.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  let partialLine = "";
  let skipLeadingLf = false;
  let atStreamStart = true;
  let dataLines: string[] = [];
  let eventType = "";
  let lastEventId = "";
  // Any line since the last dispatch, comments included: the stream is inside an event.
  let linesSinceDispatch = false;

  function processLine(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (dataLines.length > 0) {
        const event: SseEvent = { data: dataLines.length === 1 ? dataLines[0]! : dataLines.join("\n") };
        if (eventType.length > 0) event.event = eventType;
        if (lastEventId.length > 0) event.id = lastEventId;
        out.push(event);
      }
      dataLines = [];
      eventType = "";
      linesSinceDispatch = false;
      return;
    }
    linesSinceDispatch = true;
    if (line.charCodeAt(0) === 58 /* ":" comment */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* space */) value = value.slice(1);
    if (field === "data") dataLines.push(value);
    else if (field === "event") eventType = value;
    else if (field === "id" && !value.includes("\0")) lastEventId = value;
  }

  function feedText(input: string, out: SseEvent[]): void {
    let text = input;
    if (atStreamStart && text.length > 0) {
      atStreamStart = false;
      if (text.startsWith(BYTE_ORDER_MARK)) text = text.slice(1);
    }
    let lineStart = 0;
    if (skipLeadingLf && text.length > 0) {
      skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) lineStart = 1;
    }
    for (let i = lineStart; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code !== LF && code !== CR) continue;
      const line = partialLine.length > 0 ? partialLine + text.slice(lineStart, i) : text.slice(lineStart, i);
      partialLine = "";
      processLine(line, out);
      if (code === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          // The LF of a CRLF pair may arrive in the next piece.
          skipLeadingLf = true;
        }
      }
      lineStart = i + 1;
    }
    if (lineStart < text.length) partialLine += text.slice(lineStart);
  }

  return {
    push(input) {
      const out: SseEvent[] = [];
      feedText(typeof input === "string" ? input : decoder.decode(input, { stream: true }), out);
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      feedText(decoder.decode(), out);
      return out;
    },
    endedMidEvent: () => partialLine.length > 0 || linesSinceDispatch,
  };
}
