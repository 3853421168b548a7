import { brotliCompressSync, gzipSync, constants as zlibConstants } from "node:zlib";
import type { FastifyInstance } from "fastify";

/**
 * Compression of buffered answers (JSON, the console's text assets), as an `onSend` hook on the
 * gateway's root. Our own hook rather than a plugin: what Beamline needs is the negotiation
 * below and one zlib call, and the plugin it replaces loaded a MIME database and a stream
 * library into every router (docs/architecture.md, "Router memory"). Streamed answers are not
 * touched: event streams are hijacked replies that never reach `onSend`, and the NDJSON export
 * is a stream this hook passes through as it is.
 */
export type ContentCoding = "gzip" | "br";

/**
 * The coding to answer with for an `Accept-Encoding` value (RFC 9110 §12.5.3): gzip when the
 * client accepts it, brotli only for a client that accepts nothing else (gzip is as small on a
 * completion for a fraction of the CPU: docs/architecture.md, "HTTP conventions as root hooks");
 * undefined: send the body as it is. A coding with `q=0` (or a weight that is no qvalue) is
 * refused, `*` stands for every coding not named, and names are case-insensitive.
 */
export function chooseContentCoding(acceptEncoding: string | undefined): ContentCoding | undefined {
  if (!acceptEncoding) return undefined;
  const weights = new Map<string, number>();
  for (const member of acceptEncoding.split(",")) {
    const [name = "", ...parameters] = member.split(";").map((part) => part.trim());
    if (name === "") continue;
    let weight = 1;
    for (const parameter of parameters) {
      const match = /^q\s*=\s*(.*)$/i.exec(parameter);
      // A weight that is no qvalue (0 to 1, three decimals) makes the member count as refused.
      if (match) weight = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(match[1] ?? "") ? Number(match[1]) : 0;
    }
    weights.set(name.toLowerCase(), weight);
  }
  const accepts = (coding: ContentCoding) => (weights.get(coding) ?? weights.get("*") ?? 0) > 0;
  if (accepts("gzip")) return "gzip";
  if (accepts("br")) return "br";
  return undefined;
}

/** Media types worth compressing: JSON and text, never an event stream (it would be buffered). */
const COMPRESSIBLE = /^(?:text\/(?!event-stream)|application\/(?:[a-z0-9.+-]*\+)?(?:json|javascript|xml)\b)/i;

export function isCompressible(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType);
}

export interface CompressionOptions {
  /** Bodies smaller than this many bytes go as they are (compression would not pay). */
  minBytes: number;
}

/** Brotli at quality 4: its default (11) costs ~25× the CPU for 18 % less on a completion. */
const BROTLI_OPTIONS = { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } };

function compress(coding: ContentCoding, body: Buffer | string): Buffer {
  return coding === "gzip" ? gzipSync(body) : brotliCompressSync(body, BROTLI_OPTIONS);
}

/** Registers the hook; answers above `minBytes` of a compressible type vary by `Accept-Encoding`. */
export function registerCompression(app: FastifyInstance, options: CompressionOptions): void {
  app.addHook("onSend", async (request, reply, payload) => {
    if (typeof payload !== "string" && !Buffer.isBuffer(payload)) return payload;
    if (Buffer.byteLength(payload) < options.minBytes) return payload;
    const encoded = reply.getHeader("content-encoding");
    if (encoded !== undefined && encoded !== "identity") return payload;
    // Byte ranges name offsets in the body as it is; a compressed body would break them.
    if (reply.statusCode === 206 || reply.hasHeader("content-range")) return payload;
    const type = reply.getHeader("content-type");
    if (!isCompressible(typeof type === "string" ? type : "application/json")) return payload;
    // The answer depends on the request's Accept-Encoding whether or not it is compressed now:
    // a cache in between must not give this client's form to another.
    reply.header("vary", varyWith(reply.getHeader("vary")));
    const coding = chooseContentCoding(request.headers["accept-encoding"]);
    if (!coding) return payload;
    reply.header("content-encoding", coding);
    // Fastify sets `content-length` from the body it is given.
    return compress(coding, payload);
  });
}

function varyWith(current: unknown): string {
  const listed = typeof current === "string" ? current : Array.isArray(current) ? current.join(", ") : "";
  if (/(?:^|,)\s*(?:\*|accept-encoding)\s*(?:,|$)/i.test(listed)) return listed;
  return listed === "" ? "accept-encoding" : `${listed}, accept-encoding`;
}
