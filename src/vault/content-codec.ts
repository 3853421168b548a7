import { createHash } from "node:crypto";
import { Decoder, Encoder } from "cbor-x";
import {
  type AtRest,
  atRestSchema,
  type BeamlineEvent,
  type ContentMode,
  type ContentState,
  contentAad,
  decodeEnvelope,
  decodeTrustedEvent,
  type EncodedEvent,
  type Envelope,
  encodeEvent,
  encodeEventWithData,
  type HeaderReader,
  markValidated,
  splitContent,
  upcastAndValidate,
  validateEvent,
} from "../events/index.js";
import type { EventCodec } from "../nats/index.js";
import { open, seal } from "./cipher.js";
import type { TenantKeys } from "./tenant-keys.js";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Where the codec gets a tenant's data key: {@link TenantKeys}, or a fixed key in a benchmark. */
export type DataKeySource = Pick<TenantKeys, "forSealing" | "forOpening">;

/** An envelope as a reader may show it: content opened when it could be, and what became of it. */
export interface OpenedEnvelope {
  envelope: Envelope;
  /** Undefined for events that carry no content. */
  content: ContentState | undefined;
}

/**
 * The event codec that keeps content at rest per tenant (docs/security.md): sealed with the
 * tenant's data key, hashed, or left out. `request.accepted` is always sealed whatever the
 * mode, because the worker executes (and a redelivery resumes) from it.
 */
export class ContentCodec implements EventCodec {
  constructor(
    private readonly keys: DataKeySource,
    /** The tenant's content mode (its policy's `content.store`); read per event, so a change applies at once. */
    private readonly modeOf: (tenant: string) => ContentMode,
  ) {}

  async encode(event: BeamlineEvent): Promise<EncodedEvent> {
    // Validated before anything is sealed: the stored form is derived from checked data.
    const valid = validateEvent(event);
    const split = splitContent(valid.type, valid.data as Record<string, unknown>);
    if (!split) return encodeEvent(valid);
    const mode = valid.type === "request.accepted" ? "encrypted" : this.modeOf(valid.tenant);
    let atRest: AtRest;
    if (mode === "encrypted") {
      const dataKey = await this.keys.forSealing(valid.tenant);
      const sealed = seal(dataKey.key, encoder.encode(split.content), contentAad(valid));
      atRest = {
        mode,
        alg: "A256GCM",
        keyRevision: dataKey.revision,
        nonce: base64(sealed.nonce),
        ciphertext: base64(sealed.ciphertext),
      };
    } else if (mode === "hashes") {
      const sha256: Record<string, string> = {};
      for (const [field, value] of Object.entries(split.content)) sha256[field] = contentDigest(value);
      atRest = { mode, sha256 };
    } else {
      atRest = { mode, fields: Object.keys(split.content) };
    }
    split.rest["atRest"] = atRest;
    return encodeEventWithData(valid, split.rest);
  }

  /**
   * `trusted`: the caller found the message's `bl-sig` valid for this deployment's key; an event
   * at its type's current version is then taken as written, without a second validation.
   */
  async decode(
    payload: Uint8Array,
    headers: HeaderReader | undefined,
    options: { open?: boolean; trusted?: boolean } = {},
  ): Promise<BeamlineEvent> {
    const trusted = options.trusted === true ? decodeTrustedEvent(payload, headers) : undefined;
    if (trusted) {
      if (options.open === false) return trusted;
      const opened = await this.openEnvelope(trusted, { trusted: true });
      return opened.envelope === trusted ? trusted : markValidated(opened.envelope as BeamlineEvent);
    }
    const envelope = decodeEnvelope(payload, headers);
    if (options.open === false) return upcastAndValidate(envelope);
    return upcastAndValidate((await this.openEnvelope(envelope)).envelope);
  }

  /** Opens an envelope's sealed content when this process can (key present, not erased). */
  async openEnvelope(envelope: Envelope, options: { trusted?: boolean } = {}): Promise<OpenedEnvelope> {
    const data = envelope.data as Record<string, unknown> | undefined;
    if (typeof data !== "object" || data === null) return { envelope, content: undefined };
    if (data["atRest"] === undefined) {
      const hasContent = splitContent(envelope.type, data) !== undefined;
      return { envelope, content: hasContent ? "clear" : undefined };
    }
    // A signed record was built by `encode`; anything else is checked, and a malformed record
    // is left for the schema check to report.
    let atRest = data["atRest"] as AtRest;
    if (options.trusted !== true) {
      const parsed = atRestSchema.safeParse(atRest);
      if (!parsed.success) return { envelope, content: undefined };
      atRest = parsed.data;
    }
    if (atRest.mode !== "encrypted") return { envelope, content: atRest.mode };
    const dataKey = await this.keys.forOpening(envelope.tenant);
    if (dataKey === "erased") return { envelope, content: "erased" };
    if (!dataKey) return { envelope, content: "encrypted" };
    const plaintext = open(
      dataKey.key,
      { nonce: Buffer.from(atRest.nonce, "base64"), ciphertext: Buffer.from(atRest.ciphertext, "base64") },
      contentAad(envelope),
      `the content of ${envelope.type} ${envelope.id}`,
    );
    const content = decoder.decode(plaintext) as Record<string, unknown>;
    const { atRest: _sealed, ...rest } = data;
    return { envelope: { ...envelope, data: { ...rest, ...content } }, content: "decrypted" };
  }
}

/** Base64 of bytes without copying them (a Buffer view over the same memory). */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** SHA-256 of a content value's JSON, hex: what `hashes` mode stores, comparable with a client's own copy. */
export function contentDigest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
