import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import type { PolicyDocument } from "../routing/index.js";

/**
 * Content at rest (docs/security.md, "Content at rest and erasure"). Prompts and completions
 * are the only parts of an event that are not metadata; everything billing, routing replay
 * and reconciliation read stays in the clear. This module is the pure half: which fields hold
 * content, how a stored event records what became of them, and the associated data that binds
 * a ciphertext to its event. Sealing (keys, randomness) is the vault's job (`src/vault`).
 */

/** How a tenant's content is stored: sealed with its data key, as SHA-256 digests only, or not at all. */
export type ContentMode = PolicyDocument["content"]["store"];

/**
 * The data fields that hold prompt or completion text, per event type. Every other field is
 * metadata. `route.decided` holds the request as routed only when pre-processing changed it, or
 * for embeddings (the chat view routing saw). Vectors are content: text can be recovered from them.
 */
export const ContentFields: Readonly<Record<string, readonly string[]>> = {
  "request.accepted": ["request", "embeddings"],
  "route.decided": ["request"],
  "attempt.succeeded": ["completion", "embeddings"],
  "request.completed": ["completion", "embeddings"],
};

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * What an event stores in place of its content fields (`data.atRest`). `encrypted`: the
 * fields, CBOR-encoded together, sealed with AES-256-GCM under the tenant's data key
 * (`ciphertext` ends with the 16-byte tag). `hashes`: SHA-256 of each field's canonical JSON.
 * `none`: nothing but the names of the fields that were left out.
 */
export const atRestSchema = z.discriminatedUnion("mode", [
  z.object({
    mode: z.literal("encrypted"),
    alg: z.literal("A256GCM"),
    /** Which data key of the tenant sealed it (its creation revision in the key bucket). */
    keyRevision: z.number().int().positive(),
    /** 96-bit random nonce, base64. */
    nonce: base64,
    ciphertext: base64,
  }),
  z.object({ mode: z.literal("hashes"), sha256: z.record(z.string(), sha256Hex) }),
  z.object({ mode: z.literal("none"), fields: z.array(z.string()) }),
]);
export type AtRest = z.infer<typeof atRestSchema>;

/** The parts of an envelope that a sealed ciphertext is bound to. */
export interface ContentBinding {
  tenant: string;
  id: string;
  type: string;
}

/**
 * Associated data of a sealed content: tenant, event id and type. A ciphertext copied into
 * another event (another tenant, another request, another slot) fails its tag check.
 */
export function contentAad(binding: ContentBinding): Uint8Array {
  return new TextEncoder().encode(`beamline-content/v1\n${binding.tenant}\n${binding.id}\n${binding.type}`);
}

/** Splits an event's data into its content fields (those present) and the rest; undefined when it has none. */
export function splitContent(
  type: string,
  data: Record<string, unknown>,
): { content: Record<string, unknown>; rest: Record<string, unknown> } | undefined {
  const fields = ContentFields[type];
  if (!fields) return undefined;
  const content: Record<string, unknown> = {};
  const rest: Record<string, unknown> = { ...data };
  for (const field of fields) {
    if (data[field] === undefined) continue;
    content[field] = data[field];
    delete rest[field];
  }
  return Object.keys(content).length > 0 ? { content, rest } : undefined;
}

/**
 * What a reader can say about an event's content: `clear` (stored unsealed: history from before
 * encryption, or a producer's own event), `decrypted`, `encrypted` (the reader holds no key),
 * `erased` (the tenant's key is destroyed), or the tenant's `hashes` / `none` mode.
 */
export type ContentState = "clear" | "decrypted" | "encrypted" | "erased" | "hashes" | "none";

/**
 * A content field a step cannot do without (the worker's request, the completion it re-sends),
 * or `BL_CONTENT_UNREADABLE` naming why it is missing: sealed with a key this reader does not
 * have (or that was erased), or stored as hashes or not at all.
 */
export function requireContent<V>(
  value: V | undefined,
  event: { type: string; id?: string; data: unknown },
): V {
  if (value !== undefined) return value;
  const atRest = (event.data as { atRest?: AtRest } | undefined)?.atRest;
  const why = !atRest
    ? "it is absent"
    : atRest.mode === "encrypted"
      ? "it is sealed and the tenant's data key is not available (erased, or no master key here)"
      : `the tenant stores content as ${atRest.mode}`;
  throw new BeamlineError(
    "BL_CONTENT_UNREADABLE",
    `the content of ${event.type}${event.id ? ` ${event.id}` : ""} cannot be read: ${why}`,
  );
}
