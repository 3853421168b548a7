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
  type EncodedEvent,
  type Envelope,
  encodeEvent,
  type HeaderReader,
  splitContent,
  upcastAndValidate,
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
    const split = splitContent(event.type, event.data as Record<string, unknown>);
    if (!split) return encodeEvent(event);
    const mode = event.type === "request.accepted" ? "encrypted" : this.modeOf(event.tenant);
    let atRest: AtRest;
    if (mode === "encrypted") {
      const dataKey = await this.keys.forSealing(event.tenant);
      const sealed = seal(dataKey.key, encoder.encode(split.content), contentAad(event));
      atRest = {
        mode,
        alg: "A256GCM",
        keyRevision: dataKey.revision,
        nonce: Buffer.from(sealed.nonce).toString("base64"),
        ciphertext: Buffer.from(sealed.ciphertext).toString("base64"),
      };
    } else if (mode === "hashes") {
      const sha256: Record<string, string> = {};
      for (const [field, value] of Object.entries(split.content)) sha256[field] = contentDigest(value);
      atRest = { mode, sha256 };
    } else {
      atRest = { mode, fields: Object.keys(split.content) };
    }
    return encodeEvent({ ...event, data: { ...split.rest, atRest } } as BeamlineEvent);
  }

  async decode(
    payload: Uint8Array,
    headers: HeaderReader | undefined,
    options: { open?: boolean } = {},
  ): Promise<BeamlineEvent> {
    const envelope = decodeEnvelope(payload, headers);
    if (options.open === false) return upcastAndValidate(envelope);
    return upcastAndValidate((await this.openEnvelope(envelope)).envelope);
  }

  /** Opens an envelope's sealed content when this process can (key present, not erased). */
  async openEnvelope(envelope: Envelope): Promise<OpenedEnvelope> {
    const data = envelope.data as Record<string, unknown> | undefined;
    if (typeof data !== "object" || data === null) return { envelope, content: undefined };
    if (data["atRest"] === undefined) {
      const hasContent = splitContent(envelope.type, data) !== undefined;
      return { envelope, content: hasContent ? "clear" : undefined };
    }
    const parsed = atRestSchema.safeParse(data["atRest"]);
    // A malformed record is left for the schema check to report.
    if (!parsed.success) return { envelope, content: undefined };
    const atRest = parsed.data;
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

/** SHA-256 of a content value's JSON, hex: what `hashes` mode stores, comparable with a client's own copy. */
export function contentDigest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
