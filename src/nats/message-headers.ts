import type { JsMsg } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/transport-node";

/**
 * The headers of a delivered message as Beamline's consumers read them: one value by exact
 * name (`""` when absent, as nats.js's `get`), or every header with all its values in the order
 * they first appear (as nats.js iterates them). nats.js's own `MsgHdrs` satisfies it.
 */
export interface MessageHeaders extends Iterable<[string, string[]]> {
  get(name: string): string;
}

/**
 * Where nats.js 3.x keeps a delivered message's bytes (not public API): `_rdata` holds the
 * header block and the payload, `_msg.hdr` the header block's length (-1 without headers).
 * A JetStream message wraps the core message as `msg`.
 */
interface CoreMessageInternals {
  _rdata?: unknown;
  _msg?: { hdr?: unknown };
  /** Headers nats.js has already decoded (it reads a pinned consumer's from every message). */
  _headers?: unknown;
}

function coreOf(msg: Msg | JsMsg): CoreMessageInternals {
  return ((msg as { msg?: unknown }).msg ?? msg) as CoreMessageInternals;
}

/** "NATS/1.0", the first bytes of every header block. */
const HEADER_VERSION = [0x4e, 0x41, 0x54, 0x53, 0x2f, 0x31, 0x2e, 0x30];
const utf8 = new TextDecoder();

/**
 * The raw header block of a delivered message: the bytes, `null` when it has no headers, or
 * `undefined` when nats.js does not keep them where this expects (then nothing here is used).
 */
export function rawHeaderBlock(msg: Msg | JsMsg): Uint8Array | null | undefined {
  const core = coreOf(msg);
  const bytes = core._rdata;
  const length = core._msg?.hdr;
  if (!(bytes instanceof Uint8Array) || typeof length !== "number") return undefined;
  if (length < 0) return null;
  if (length < HEADER_VERSION.length || length > bytes.length) return undefined;
  for (let i = 0; i < HEADER_VERSION.length; i++) if (bytes[i] !== HEADER_VERSION[i]) return undefined;
  return bytes.subarray(0, length);
}

/**
 * A delivered message's headers, parsed straight from its header block into two arrays.
 * nats.js decodes each header line through `append`, which re-validates and re-cases the name,
 * lists every name to find duplicates and builds a regular expression per value: about 40 %
 * of the bytes the router allocated per delivery (bench/RESULTS.md, "Session 13"), for the
 * two or three headers a consumer reads. Falls back to nats.js's decoding when its internals
 * are not what {@link rawHeaderBlock} expects.
 */
export function headersOf(msg: Msg | JsMsg): MessageHeaders | undefined {
  const decoded = coreOf(msg)._headers;
  if (typeof (decoded as Partial<MessageHeaders> | undefined)?.get === "function")
    return decoded as MessageHeaders;
  const block = rawHeaderBlock(msg);
  if (block === undefined) return msg.headers;
  if (block === null) return undefined;
  return parseHeaderBlock(block);
}

/** Parses a header block ("NATS/1.0[ status]\r\nName: value\r\n…\r\n\r\n") as nats.js does. */
export function parseHeaderBlock(block: Uint8Array): MessageHeaders {
  const text = utf8.decode(block);
  const names: string[] = [];
  const values: string[][] = [];
  // The first line is the version and an optional status; consumers here read neither.
  let start = text.indexOf("\r\n");
  while (start >= 0) {
    start += 2;
    let end = text.indexOf("\r\n", start);
    if (end < 0) end = text.length;
    const colon = text.indexOf(":", start);
    if (colon >= 0 && colon < end) {
      const name = text.slice(start, colon);
      const value = text.slice(colon + 1, end).trim();
      const known = names.indexOf(name);
      if (known >= 0) values[known]!.push(value);
      else {
        names.push(name);
        values.push([value]);
      }
    }
    start = end < text.length ? end : -1;
  }
  return new ParsedHeaders(names, values);
}

class ParsedHeaders implements MessageHeaders {
  constructor(
    private readonly names: string[],
    private readonly values: string[][],
  ) {}

  get(name: string): string {
    const index = this.names.indexOf(name);
    return index < 0 ? "" : this.values[index]![0]!;
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (let i = 0; i < this.names.length; i++) yield [this.names[i]!, this.values[i]!];
  }
}
