import type { KeyObject } from "node:crypto";
import { chainStep, genesisHash, leafDigest, type NotarisedMessage, SHORT_DIGEST_BYTES } from "./chain.js";
import {
  type CheckpointBody,
  checkpointHash,
  checkpointSignatureValid,
  type SignedCheckpoint,
} from "./checkpoint.js";

/** What `audit verify` can find wrong; each names the first bad sequence where there is one. */
export const FindingKinds = {
  /** A message present when notarised is gone, and the stream's own retention does not explain it. */
  missing: "missing",
  /** A message's subject, notarised headers or payload differ from what was notarised. */
  altered: "altered",
  /** A message sits at a sequence that was absent when notarised. */
  forgedInsertion: "forged-insertion",
  /** Messages arrived out of sequence order (a broken or doctored read). */
  reordered: "reordered",
  /** Every message matched its short digest, yet the running hash differs. */
  chainMismatch: "chain-mismatch",
  /** A checkpoint's signature is not valid under the public key given. */
  badSignature: "bad-signature",
  /** A checkpoint does not continue the one before it (one was removed or forged). */
  brokenLink: "broken-link",
  /** A checkpoint contradicts itself (counts, ranges or digests do not add up). */
  badCheckpoint: "bad-checkpoint",
} as const;
export type FindingKind = (typeof FindingKinds)[keyof typeof FindingKinds];

/** One finding; verification of a stream stops at its first. */
export interface AuditFinding {
  stream: string;
  kind: FindingKind;
  /** The first bad sequence of the stream, when the finding is about a message. */
  seq?: number;
  /** The checkpoint whose range (or link) is broken. */
  checkpoint: { firstSeq: number; lastSeq: number; time: string };
  detail: string;
}

/** What the verifier needs to know about the stream's retention to tell expiry from deletion. */
export interface RetentionFacts {
  /** The stream's current first sequence: everything below it was removed by retention or purge. */
  firstSeq: number;
  /** The stream's max_age in milliseconds; 0 when it keeps messages forever. */
  maxAgeMs: number;
  /** True when max_age is the stream's only limit (no max_msgs, max_bytes, per-subject limit). */
  ageIsOnlyLimit: boolean;
  /** The verifier's clock (epoch ms), passed in. */
  now: number;
}

/**
 * Clock skew the age argument tolerates: a message counts as removed too early only when it is
 * at least this much younger than max_age, so a verifier whose clock runs behind never cries wolf.
 */
const AGE_SLACK_MS = 60_000;

const rangeOf = (cp: CheckpointBody) => ({ firstSeq: cp.firstSeq, lastSeq: cp.lastSeq, time: cp.time });

/**
 * Whether a checkpoint is internally consistent: its absent ranges lie inside its range in
 * order, its count is the range minus them, and it holds one short digest per present message.
 */
export function checkpointProblem(cp: CheckpointBody): string | undefined {
  if (cp.lastSeq < cp.firstSeq) return `range ${cp.firstSeq}..${cp.lastSeq} is empty`;
  let cursor = cp.firstSeq;
  let absentTotal = 0;
  for (const [from, to] of cp.absent) {
    if (from < cursor || to < from || to >= cp.lastSeq)
      return `absent range ${from}..${to} is out of order or place`;
    absentTotal += to - from + 1;
    cursor = to + 1;
  }
  if (cp.count !== cp.lastSeq - cp.firstSeq + 1 - absentTotal)
    return `count ${cp.count} does not match its range`;
  if (Buffer.from(cp.digests, "base64").length !== cp.count * SHORT_DIGEST_BYTES) {
    return `it holds ${Buffer.from(cp.digests, "base64").length / SHORT_DIGEST_BYTES} digests for ${cp.count} messages`;
  }
  return undefined;
}

/**
 * Checks one checkpoint's range against the messages the stream holds now, fed in sequence
 * order with {@link RangeVerifier.accept} and closed with {@link RangeVerifier.finish}. Pure
 * and streaming: it keeps the checkpoint and a cursor, never the messages.
 */
export class RangeVerifier {
  /** Present messages that matched their digests. */
  verified = 0;
  /** Messages notarised, then removed by the stream's retention. */
  expired = 0;
  /** Sequences already gone when the notary read them. */
  absentWhenNotarised = 0;
  private readonly digests: Buffer;
  private digestIndex = 0;
  private absentIndex = 0;
  private nextSeq: number;
  private running: Buffer;
  private finding: AuditFinding | undefined;

  constructor(
    readonly checkpoint: CheckpointBody,
    private readonly retention: RetentionFacts,
  ) {
    this.digests = Buffer.from(checkpoint.digests, "base64");
    this.nextSeq = checkpoint.firstSeq;
    this.running = Buffer.from(checkpoint.startHash, "hex");
  }

  /** Feeds the next stored message of the range; returns the first finding, once found. */
  accept(message: NotarisedMessage): AuditFinding | undefined {
    if (this.finding) return this.finding;
    const cp = this.checkpoint;
    if (message.seq < this.nextSeq) {
      return this.fail(
        FindingKinds.reordered,
        message.seq,
        `sequence ${message.seq} came after ${this.nextSeq - 1}`,
      );
    }
    if (message.seq > cp.lastSeq) {
      return this.fail(FindingKinds.reordered, message.seq, `sequence ${message.seq} is past the range`);
    }
    const gone = this.walkGone(this.nextSeq, message.seq - 1);
    if (gone) return gone;
    if (this.isAbsent(message.seq)) {
      return this.fail(
        FindingKinds.forgedInsertion,
        message.seq,
        `sequence ${message.seq} was absent when notarised but holds a message now`,
      );
    }
    const leaf = leafDigest(message);
    const expected = this.digests.subarray(
      this.digestIndex * SHORT_DIGEST_BYTES,
      (this.digestIndex + 1) * SHORT_DIGEST_BYTES,
    );
    this.digestIndex++;
    if (!leaf.subarray(0, SHORT_DIGEST_BYTES).equals(expected)) {
      return this.fail(
        FindingKinds.altered,
        message.seq,
        `sequence ${message.seq} (${message.subject}) differs from what was notarised`,
      );
    }
    this.running = chainStep(this.running, leaf);
    this.verified++;
    this.nextSeq = message.seq + 1;
    return undefined;
  }

  /** Closes the range: sequences never fed are gone; the running hash must match when all are present. */
  finish(): AuditFinding | undefined {
    if (this.finding) return this.finding;
    const gone = this.walkGone(this.nextSeq, this.checkpoint.lastSeq);
    if (gone) return gone;
    // With expired messages in the range the chain cannot be recomputed; each survivor was
    // still checked against its 128-bit digest.
    if (this.expired === 0 && this.running.toString("hex") !== this.checkpoint.runningHash) {
      return this.fail(
        FindingKinds.chainMismatch,
        undefined,
        "the running hash differs from the checkpoint's",
      );
    }
    return undefined;
  }

  private isAbsent(seq: number): boolean {
    const absent = this.checkpoint.absent;
    while (this.absentIndex < absent.length && absent[this.absentIndex]![1] < seq) this.absentIndex++;
    const range = absent[this.absentIndex];
    return range !== undefined && range[0] <= seq && seq <= range[1];
  }

  /** Accounts for sequences `from..to` holding no message now (range-wise, never per sequence). */
  private walkGone(from: number, to: number): AuditFinding | undefined {
    let seq = from;
    while (seq <= to) {
      if (this.isAbsent(seq)) {
        const end = Math.min(to, this.checkpoint.absent[this.absentIndex]![1]);
        this.absentWhenNotarised += end - seq + 1;
        seq = end + 1;
        continue;
      }
      const nextAbsent = this.checkpoint.absent[this.absentIndex];
      const end = Math.min(to, nextAbsent && nextAbsent[0] > seq ? nextAbsent[0] - 1 : to);
      // seq..end were present when notarised and are gone now.
      if (seq >= this.retention.firstSeq) {
        return this.fail(
          FindingKinds.missing,
          seq,
          `sequence ${seq} was notarised and has been deleted (the stream still holds later and earlier messages)`,
        );
      }
      if (this.tooYoungToExpire()) {
        return this.fail(
          FindingKinds.missing,
          seq,
          `sequence ${seq} was removed below the stream's first sequence before its max_age could expire it (a purge)`,
        );
      }
      const expiredEnd = Math.min(end, this.retention.firstSeq - 1);
      this.expired += expiredEnd - seq + 1;
      this.digestIndex += expiredEnd - seq + 1;
      seq = expiredEnd + 1;
    }
    this.nextSeq = Math.max(this.nextSeq, to + 1);
    return undefined;
  }

  private tooYoungToExpire(): boolean {
    const { maxAgeMs, ageIsOnlyLimit, now } = this.retention;
    const oldest = this.checkpoint.firstStoredAt;
    if (!ageIsOnlyLimit || maxAgeMs <= 0 || oldest === null) return false;
    return Date.parse(oldest) > now - maxAgeMs + AGE_SLACK_MS;
  }

  private fail(kind: FindingKind, seq: number | undefined, detail: string): AuditFinding {
    this.finding = {
      stream: this.checkpoint.stream,
      kind,
      ...(seq === undefined ? {} : { seq }),
      checkpoint: rangeOf(this.checkpoint),
      detail,
    };
    return this.finding;
  }
}

/**
 * Checks the checkpoints of one stream in order: each is signed by the key, consistent, and
 * continues the one before. The first checkpoint read either starts the chain (genesis) or,
 * when verification starts mid-history (`--since`), is taken as the anchor.
 */
export class CheckpointChainVerifier {
  private previous: CheckpointBody | undefined;

  constructor(
    private readonly publicKey: KeyObject,
    private readonly keyId: string,
    private readonly anchored: boolean,
  ) {}

  /** Checks the next checkpoint; returns a finding, or undefined when it is good. */
  accept(cp: SignedCheckpoint): AuditFinding | undefined {
    const fail = (kind: FindingKind, detail: string): AuditFinding => ({
      stream: cp.stream,
      kind,
      checkpoint: rangeOf(cp),
      detail,
    });
    if (cp.keyId !== this.keyId) {
      return fail(FindingKinds.badSignature, `signed by key ${cp.keyId}, not by the given key ${this.keyId}`);
    }
    if (!checkpointSignatureValid(cp, this.publicKey)) {
      return fail(FindingKinds.badSignature, "the signature does not match the checkpoint");
    }
    const problem = checkpointProblem(cp);
    if (problem) return fail(FindingKinds.badCheckpoint, problem);
    const previous = this.previous;
    if (previous) {
      if (cp.previousHash !== checkpointHash(previous) || cp.startHash !== previous.runningHash) {
        return fail(
          FindingKinds.brokenLink,
          `it does not continue the checkpoint of ${previous.firstSeq}..${previous.lastSeq}`,
        );
      }
      if (cp.firstSeq !== previous.lastSeq + 1) {
        return fail(FindingKinds.brokenLink, `it starts at ${cp.firstSeq}, not at ${previous.lastSeq + 1}`);
      }
    } else if (!this.anchored) {
      if (
        cp.previousHash !== null ||
        cp.firstSeq !== 1 ||
        cp.startHash !== genesisHash(cp.stream).toString("hex")
      ) {
        return fail(
          FindingKinds.brokenLink,
          "the stream's first checkpoint is missing (this one continues an earlier one)",
        );
      }
    }
    this.previous = cp;
    return undefined;
  }
}
