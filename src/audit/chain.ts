import { hash } from "node:crypto";

/**
 * The hash chain the notary keeps over each stream (docs/audit.md, "Tamper evidence"). Each
 * stored message becomes a leaf digest over everything that makes it the fact it is; the
 * running hash folds the leaves in sequence order: `running' = SHA-256(running ‖ leaf)`.
 * A chain and not a Merkle tree: the notary and the verifier both walk a stream in order, so
 * a chain costs one hash per message and needs no tree state; inclusion proofs for a single
 * message (the one thing a tree adds) are not needed by anyone who can read the stream.
 */

/** Subjects of the checkpoints: `bl.audit.<stream>`, one subject per notarised stream. */
export const AUDIT_SUBJECT_ROOT = "bl.audit";

/** The subject the checkpoints of `stream` are written on. */
export function auditSubject(stream: string): string {
  return `${AUDIT_SUBJECT_ROOT}.${stream}`;
}

/** One stored message as the chain sees it; headers are name → values, as NATS stores them. */
export interface NotarisedMessage {
  stream: string;
  seq: number;
  subject: string;
  headers: ReadonlyArray<readonly [name: string, values: readonly string[]]>;
  payload: Uint8Array;
}

/**
 * Write-time preconditions (`Nats-Expected-Last-Subject-Sequence`, ...) say how a message was
 * written, not what it is, so they are left out; every other header (the `bl-*` envelope
 * headers, `Nats-Msg-Id`, content type, trace context) is part of the fact and is notarised.
 */
function isNotarisedHeader(lowerName: string): boolean {
  return !lowerName.startsWith("nats-expected-");
}

/** The notarised headers in one canonical form: lower-case names, sorted, values in order. */
export function canonicalHeaders(headers: NotarisedMessage["headers"]): Array<[string, string[]]> {
  const merged = new Map<string, string[]>();
  for (const [name, values] of headers) {
    const lower = name.toLowerCase();
    if (!isNotarisedHeader(lower)) continue;
    const known = merged.get(lower);
    if (known) known.push(...values);
    else merged.set(lower, [...values]);
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const LEAF_PREFIX = "bl-notary-leaf-v1\n";
const GENESIS_PREFIX = "bl-notary-genesis-v1\n";

// One-shot digests: the notary hashes three times per stored message, and a Hash object per
// digest cost it twice the time of the digest itself (bench/RESULTS.md, "Session 13").

/**
 * The leaf digest of one message (32 bytes). A JSON array is an unambiguous encoding of the
 * fields (no two different messages serialise alike); the payload enters as its SHA-256.
 */
export function leafDigest(message: NotarisedMessage): Buffer {
  const fields = [
    message.stream,
    message.seq,
    message.subject,
    canonicalHeaders(message.headers),
    hash("sha256", message.payload, "hex"),
  ];
  return hash("sha256", LEAF_PREFIX + JSON.stringify(fields), "buffer");
}

/** The running hash before a stream's first message: bound to the stream's name. */
export function genesisHash(stream: string): Buffer {
  return hash("sha256", GENESIS_PREFIX + stream, "buffer");
}

/** One step of the chain. */
export function chainStep(running: Uint8Array, leaf: Uint8Array): Buffer {
  return hash("sha256", Buffer.concat([running, leaf]), "buffer");
}

/**
 * Bytes of a leaf digest kept per message in a checkpoint, to name the first altered sequence.
 * 16 bytes (128 bits) keep a second preimage out of reach, so messages of a range whose
 * neighbours expired (and whose running hash can no longer be recomputed) stay protected.
 */
export const SHORT_DIGEST_BYTES = 16;
