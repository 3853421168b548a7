import { createHash, type KeyObject, sign, verify } from "node:crypto";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { chainStep, genesisHash, leafDigest, type NotarisedMessage, SHORT_DIGEST_BYTES } from "./chain.js";

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, "a SHA-256 in hex");
const seq = z.number().int().positive();

/**
 * A checkpoint: the notary's signed statement about one contiguous range of a stream's
 * sequences. `absent` lists the sequences of the range that were already gone when the notary
 * read it (deleted, or removed by retention, before it got there); every other sequence was
 * present, and `digests` holds the first {@link SHORT_DIGEST_BYTES} bytes of each present
 * message's leaf digest, in order, so a verifier can name the first altered sequence. The
 * full-strength evidence is `runningHash`, the chain from the stream's genesis (or from
 * `startHash`, the previous checkpoint's `runningHash`) through the range.
 */
export const checkpointBodySchema = z.strictObject({
  v: z.literal(1),
  stream: z.string().min(1),
  firstSeq: seq,
  lastSeq: seq,
  /** Present messages in the range. */
  count: z.number().int().nonnegative(),
  /** Inclusive sequence ranges absent when notarised, ascending. */
  absent: z.array(z.tuple([seq, seq])),
  startHash: hex32,
  runningHash: hex32,
  /** SHA-256 of the previous checkpoint's body; null on a stream's first checkpoint. */
  previousHash: hex32.nullable(),
  /** When the notary wrote it (its own clock). */
  time: z.iso.datetime(),
  /** Store times of the range's first and last present message. */
  firstStoredAt: z.iso.datetime().nullable(),
  lastStoredAt: z.iso.datetime().nullable(),
  /** Base64 of the short leaf digests of the present messages, concatenated in order. */
  digests: z.string(),
  /** Which key signed it (see {@link keyIdOf}). */
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
});
export type CheckpointBody = z.infer<typeof checkpointBodySchema>;

export const signedCheckpointSchema = checkpointBodySchema.extend({
  /** Ed25519 signature (base64) over {@link canonicalBytes} of the body. */
  signature: z.string().min(1),
});
export type SignedCheckpoint = z.infer<typeof signedCheckpointSchema>;

/** JSON with keys sorted at every level: the one byte form that is hashed and signed. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The body of a (signed) checkpoint, without its signature. */
export function bodyOf(checkpoint: SignedCheckpoint | CheckpointBody): CheckpointBody {
  const { signature: _signature, ...body } = checkpoint as SignedCheckpoint;
  return body;
}

/** The bytes that are hashed and signed. */
export function canonicalBytes(body: CheckpointBody): Buffer {
  return Buffer.from(canonicalJson(bodyOf(body)), "utf8");
}

/** The hash a following checkpoint links to (`previousHash`), hex. */
export function checkpointHash(body: CheckpointBody): string {
  return createHash("sha256").update(canonicalBytes(body)).digest("hex");
}

/** A short, stable id of a public key: the first 8 bytes of SHA-256 over its DER (SPKI) form, hex. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

/** Signs a checkpoint body with an Ed25519 private key (deterministic: no randomness). */
export function signCheckpoint(body: CheckpointBody, privateKey: KeyObject): SignedCheckpoint {
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new BeamlineError("BL_NOTARY_KEY_INVALID", "the notary key must be an Ed25519 private key");
  }
  const signature = sign(null, canonicalBytes(body), privateKey).toString("base64");
  return { ...body, signature };
}

/** Whether the checkpoint's signature is valid under `publicKey`. */
export function checkpointSignatureValid(checkpoint: SignedCheckpoint, publicKey: KeyObject): boolean {
  try {
    return verify(
      null,
      canonicalBytes(bodyOf(checkpoint)),
      publicKey,
      Buffer.from(checkpoint.signature, "base64"),
    );
  } catch {
    return false;
  }
}

/** Where a stream's chain stands after a checkpoint (or at its genesis). */
export interface ChainPosition {
  stream: string;
  /** The next sequence to notarise. */
  nextSeq: number;
  runningHash: Buffer;
  /** Hash of the last checkpoint, null before the first. */
  previousHash: string | null;
}

/** The position before a stream's first checkpoint. */
export function genesisPosition(stream: string): ChainPosition {
  return { stream, nextSeq: 1, runningHash: genesisHash(stream), previousHash: null };
}

/** The position a checkpoint leaves its stream's chain in: where the next one continues. */
export function positionAfter(checkpoint: CheckpointBody): ChainPosition {
  return {
    stream: checkpoint.stream,
    nextSeq: checkpoint.lastSeq + 1,
    runningHash: Buffer.from(checkpoint.runningHash, "hex"),
    previousHash: checkpointHash(checkpoint),
  };
}

/**
 * Folds messages (in sequence order) into the next checkpoint of a stream. A sequence skipped
 * between two messages (or before the first) is recorded as absent. Holds only the short
 * digests of the range (16 bytes a message), never the messages.
 */
export class CheckpointBuilder {
  readonly start: ChainPosition;
  private cursor: number;
  private running: Buffer;
  private readonly absent: Array<[number, number]> = [];
  private readonly digests: Buffer[] = [];
  private firstStoredAt: string | null = null;
  private lastStoredAt: string | null = null;

  constructor(start: ChainPosition) {
    this.start = start;
    this.cursor = start.nextSeq;
    this.running = start.runningHash;
  }

  /** Present messages folded so far. */
  get count(): number {
    return this.digests.length;
  }

  /** The sequence the next message must be at or above. */
  get nextSeq(): number {
    return this.cursor;
  }

  /** Folds one message; its sequence must be above every one folded before. */
  add(message: NotarisedMessage, storedAt: string): void {
    if (message.stream !== this.start.stream) {
      throw new BeamlineError(
        "BL_INTERNAL",
        `a ${message.stream} message fed to the ${this.start.stream} chain`,
      );
    }
    if (message.seq < this.cursor) {
      throw new BeamlineError(
        "BL_INTERNAL",
        `${message.stream} sequence ${message.seq} arrived after ${this.cursor - 1}: the chain folds in order`,
      );
    }
    if (message.seq > this.cursor) this.absent.push([this.cursor, message.seq - 1]);
    const leaf = leafDigest(message);
    this.running = chainStep(this.running, leaf);
    this.digests.push(leaf.subarray(0, SHORT_DIGEST_BYTES));
    this.firstStoredAt ??= storedAt;
    this.lastStoredAt = storedAt;
    this.cursor = message.seq + 1;
  }

  /** The checkpoint over everything folded; undefined when nothing was. */
  build(time: string, keyId: string): CheckpointBody | undefined {
    if (this.count === 0) return undefined;
    return {
      v: 1,
      stream: this.start.stream,
      firstSeq: this.start.nextSeq,
      lastSeq: this.cursor - 1,
      count: this.count,
      absent: this.absent.map(([from, to]) => [from, to]),
      startHash: this.start.runningHash.toString("hex"),
      runningHash: this.running.toString("hex"),
      previousHash: this.start.previousHash,
      time,
      firstStoredAt: this.firstStoredAt,
      lastStoredAt: this.lastStoredAt,
      digests: Buffer.concat(this.digests).toString("base64"),
      keyId,
    };
  }
}
