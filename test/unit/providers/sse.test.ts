import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createSseParser, type SseEvent } from "../../../src/providers/sse.js";

const encoder = new TextEncoder();

function parseAll(pieces: Array<string | Uint8Array>): SseEvent[] {
  const parser = createSseParser();
  const events: SseEvent[] = [];
  for (const piece of pieces) events.push(...parser.push(piece));
  events.push(...parser.end());
  return events;
}

/** Splits `whole` at the given cut positions (any order, duplicates allowed). */
function splitAt<T extends string | Uint8Array>(whole: T, cuts: number[]): T[] {
  const positions = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b);
  const pieces: T[] = [];
  let start = 0;
  for (const position of positions) {
    pieces.push(whole.slice(start, position) as T);
    start = position;
  }
  pieces.push(whole.slice(start) as T);
  return pieces;
}

describe("SSE parser", () => {
  it("dispatches an event at each blank line and strips one space after the colon", () => {
    assert.deepEqual(parseAll(["data: one\n\ndata:two\n\ndata:  three\n\n"]), [
      { data: "one" },
      { data: "two" },
      { data: " three" },
    ]);
  });

  it("joins several data lines of one event with LF", () => {
    assert.deepEqual(parseAll(["data: first\ndata: second\ndata:\n\n"]), [{ data: "first\nsecond\n" }]);
  });

  it("accepts CRLF and lone CR line endings", () => {
    assert.deepEqual(parseAll(["data: a\r\n\r\ndata: b\r\rdata: c\n\n"]), [
      { data: "a" },
      { data: "b" },
      { data: "c" },
    ]);
  });

  it("does not read a CRLF split across two pieces as two line endings", () => {
    assert.deepEqual(parseAll(["data: a\r", "\ndata: b\r", "\n\r", "\n"]), [{ data: "a\nb" }]);
  });

  it("reports the event type, and resets it after each event", () => {
    assert.deepEqual(parseAll(["event: error\ndata: {}\n\ndata: next\n\n"]), [
      { event: "error", data: "{}" },
      { data: "next" },
    ]);
  });

  it("ignores comments, retry and unknown fields", () => {
    assert.deepEqual(parseAll([": keep-alive\n\nretry: 10\nfoo: bar\ndata: x\n\n"]), [{ data: "x" }]);
  });

  it("carries the last event id on every later event until an id line changes or clears it", () => {
    assert.deepEqual(parseAll(["id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\n\ndata: d\n\n"]), [
      { id: "7", data: "a" },
      { id: "7", data: "b" },
      { data: "c" },
      { id: "9", data: "d" },
    ]);
  });

  it("ignores an id containing NUL", () => {
    assert.deepEqual(parseAll(["id: 1\ndata: a\n\nid: 2\u00003\ndata: b\n\n"]), [
      { id: "1", data: "a" },
      { id: "1", data: "b" },
    ]);
  });

  it("does not dispatch an event without data lines", () => {
    assert.deepEqual(parseAll(["event: ping\n\n\n\n"]), []);
  });

  it("reads a field name without a colon as a field with an empty value", () => {
    assert.deepEqual(parseAll(["data\n\n"]), [{ data: "" }]);
  });

  it("discards an event the stream ends in the middle of, and says so", () => {
    assert.deepEqual(parseAll(["data: complete\n\ndata: cut"]), [{ data: "complete" }]);
    assert.deepEqual(parseAll(["data: no blank line\n"]), []);
    for (const [stream, midEvent] of [
      ["data: a\n\n", false],
      ["data: a\r\n\r\n\n", false],
      ["", false],
      ["data: a\n\ndata: cut", true],
      ["data: a\n", true],
      [": comment", true],
      [": comment\n", true],
    ] as const) {
      const parser = createSseParser();
      parser.push(stream);
      parser.end();
      assert.equal(parser.endedMidEvent(), midEvent, JSON.stringify(stream));
    }
  });

  it("strips a byte order mark at the start of the stream only", () => {
    assert.deepEqual(parseAll([encoder.encode("\uFEFFdata: a\n\n")]), [{ data: "a" }]);
    assert.deepEqual(parseAll(["\uFEFF", "data: b\n\n"]), [{ data: "b" }]);
    assert.deepEqual(parseAll(["data: \uFEFFc\n\n"]), [{ data: "\uFEFFc" }]);
  });

  it("decodes a multibyte character fed one byte at a time", () => {
    const bytes = encoder.encode("data: h\u00e9llo \u4e2d \u{1F600}\n\n");
    const pieces = [...bytes].map((byte) => Uint8Array.of(byte));
    assert.deepEqual(parseAll(pieces), [{ data: "h\u00e9llo \u4e2d \u{1F600}" }]);
  });

  it("returns events from the push that completes them, before the stream ends", () => {
    const parser = createSseParser();
    assert.deepEqual(parser.push("data: a"), []);
    assert.deepEqual(parser.push("\n\ndata: b\n"), [{ data: "a" }]);
    assert.deepEqual(parser.push("\n"), [{ data: "b" }]);
    assert.deepEqual(parser.end(), []);
  });
});

// Characters of 1 to 4 UTF-8 bytes plus the ones SSE gives meaning to (space, colon).
const textUnit = fc.constantFrom(
  "a",
  "Z",
  "0",
  " ",
  ":",
  "{",
  '"',
  "\u00e9",
  "\u4e2d",
  "\u{1F600}",
  "\uFEFF",
);
const lineText = fc.string({ unit: textUnit, maxLength: 12 });
const lineEnding = fc.constantFrom("\n", "\r\n", "\r");

interface GeneratedEvent {
  comment: string | undefined;
  event: string | undefined;
  id: string | undefined;
  dataLines: string[];
  eol: string;
}

const generatedEvent: fc.Arbitrary<GeneratedEvent> = fc.record({
  comment: fc.option(lineText, { nil: undefined }),
  event: fc.option(lineText, { nil: undefined }),
  id: fc.option(lineText, { nil: undefined }),
  dataLines: fc.array(lineText, { minLength: 1, maxLength: 3 }),
  eol: lineEnding,
});

function serialize(events: GeneratedEvent[]): string {
  let text = "";
  for (const event of events) {
    if (event.comment !== undefined) text += `:${event.comment}${event.eol}`;
    if (event.event !== undefined) text += `event: ${event.event}${event.eol}`;
    if (event.id !== undefined) text += `id: ${event.id}${event.eol}`;
    for (const line of event.dataLines) text += `data: ${line}${event.eol}`;
    text += event.eol;
  }
  return text;
}

/** What the standard dispatches: the id sticks across events until the next id line. */
function expected(events: GeneratedEvent[]): SseEvent[] {
  let lastId = "";
  return events.map((event) => {
    const out: SseEvent = { data: event.dataLines.join("\n") };
    if (event.event !== undefined && event.event.length > 0) out.event = event.event;
    if (event.id !== undefined) lastId = event.id;
    if (lastId.length > 0) out.id = lastId;
    return out;
  });
}

describe("SSE parser properties", () => {
  it("parses any generated stream into the events it was built from", () => {
    fc.assert(
      fc.property(fc.array(generatedEvent, { maxLength: 6 }), (events) => {
        assert.deepEqual(parseAll([serialize(events)]), expected(events));
      }),
    );
  });

  it("gives the same events for any split of the bytes, even inside a multibyte character", () => {
    fc.assert(
      fc.property(
        fc.array(generatedEvent, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (events, cuts) => {
          const bytes = encoder.encode(serialize(events));
          assert.deepEqual(parseAll(splitAt(bytes, cuts)), expected(events));
        },
      ),
    );
  });

  it("gives the same events for any split of the text", () => {
    fc.assert(
      fc.property(
        fc.array(generatedEvent, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (events, cuts) => {
          const text = serialize(events);
          assert.deepEqual(parseAll(splitAt(text, cuts)), parseAll([text]));
        },
      ),
    );
  });
});
