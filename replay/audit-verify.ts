import type { KeyObject } from "node:crypto";
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AuditFinding,
  auditSubject,
  CheckpointChainVerifier,
  FindingKinds,
  RangeVerifier,
  type RetentionFacts,
  signedCheckpointSchema,
} from "../src/audit/index.js";
import { readStream, type StoredMessage, StreamNames } from "../src/nats/index.js";
import { NOTARISED_STREAMS, notarisedOf } from "../src/notary/index.js";

/**
 * `beamline audit verify`: recomputes every checkpoint's chain from the stream it covers and
 * checks every signature with the public key alone (docs/audit.md, "Tamper evidence").
 * Read-only and streaming: one checkpoint and one message in memory at a time per stream.
 */

export interface AuditVerifyOptions {
  publicKey: KeyObject;
  keyId: string;
  /** Streams to verify; every notarised stream by default. */
  streams?: readonly string[];
  /** Verify the checkpoints written from this time on; the first one read is taken as the anchor. */
  since?: Date;
  /** The verifier's clock, for telling retention by age from a purge. */
  now: Date;
  /** Progress of reading one stream's messages (read, total). */
  onProgress?: (stream: string, read: number, total: number) => void;
}

/** What verification found for one stream. */
export interface StreamAuditReport {
  stream: string;
  checkpoints: number;
  /** The last sequence a checkpoint covers; null when none does yet. */
  coveredTo: number | null;
  /** Messages recomputed and matching their checkpoint. */
  verified: number;
  /** Messages notarised, then removed by the stream's own retention. */
  expired: number;
  /** Sequences already gone when the notary read them (deleted or expired before it got there). */
  absentWhenNotarised: number;
  /** The stream's tail no checkpoint covers yet; null when none. */
  uncovered: { fromSeq: number; toSeq: number; sequences: number; oldestStoredAt: string | null } | null;
  /** The first problem, when there is one; verification of the stream stopped there. */
  finding: AuditFinding | null;
}

/** Verifies each stream in turn; a report per stream, findings included (never thrown). */
export async function verifyAudit(
  nc: NatsConnection,
  options: AuditVerifyOptions,
): Promise<StreamAuditReport[]> {
  const reports: StreamAuditReport[] = [];
  for (const stream of options.streams ?? NOTARISED_STREAMS) {
    // Retention can advance a stream's first sequence while it is being read; a message it took
    // would then look deleted. Verification is repeated until the first sequence holds still.
    let report = await verifyStream(nc, stream, options);
    for (let retry = 0; retry < 3 && report.finding?.kind === FindingKinds.missing; retry++) {
      const info = await jetstreamManager(nc).then((jsm) => jsm.streams.info(stream));
      if ((report.finding.seq ?? 0) >= info.state.first_seq) break;
      report = await verifyStream(nc, stream, options);
    }
    reports.push(report);
  }
  return reports;
}

function retentionOf(info: StreamInfo, now: Date): RetentionFacts {
  const { config } = info;
  const unlimited = (n: number | undefined) => n === undefined || n <= 0;
  return {
    firstSeq: info.state.first_seq,
    maxAgeMs: Math.floor((config.max_age ?? 0) / 1_000_000),
    ageIsOnlyLimit:
      unlimited(config.max_msgs) && unlimited(config.max_bytes) && unlimited(config.max_msgs_per_subject),
    now: now.getTime(),
  };
}

async function verifyStream(
  nc: NatsConnection,
  stream: string,
  options: AuditVerifyOptions,
): Promise<StreamAuditReport> {
  const jsm = await jetstreamManager(nc);
  const report: StreamAuditReport = {
    stream,
    checkpoints: 0,
    coveredTo: null,
    verified: 0,
    expired: 0,
    absentWhenNotarised: 0,
    uncovered: null,
    finding: null,
  };
  const info = await jsm.streams.info(stream);
  const retention = retentionOf(info, options.now);
  const chain = new CheckpointChainVerifier(options.publicKey, options.keyId, options.since !== undefined);
  let messages: AsyncIterator<StoredMessage> | undefined;
  let pending: StoredMessage | undefined;
  try {
    for await (const stored of readStream(nc, {
      stream: StreamNames.audit,
      filters: [auditSubject(stream)],
      since: options.since,
    })) {
      const parsed = signedCheckpointSchema.safeParse(parseJson(stored.data));
      if (!parsed.success) {
        report.finding = {
          stream,
          kind: FindingKinds.badCheckpoint,
          checkpoint: { firstSeq: 0, lastSeq: 0, time: stored.storedAt },
          detail: `${StreamNames.audit} sequence ${stored.seq} is not a checkpoint: ${parsed.error.issues[0]?.message}`,
        };
        break;
      }
      const cp = parsed.data;
      report.finding = chain.accept(cp) ?? null;
      if (report.finding) break;
      // Opened after the first checkpoint was read, so its snapshot covers every checkpoint's range.
      messages ??= readStream(nc, {
        stream,
        filters: info.config.subjects ?? [">"],
        fromSequence: cp.firstSeq,
        onProgress: (read, total) => options.onProgress?.(stream, read, total),
      })[Symbol.asyncIterator]();
      const range = new RangeVerifier(cp, retention);
      for (;;) {
        if (!pending) {
          const next = await messages.next();
          pending = next.done ? undefined : next.value;
        }
        if (!pending || pending.seq > cp.lastSeq) break;
        if (pending.seq >= cp.firstSeq) report.finding = range.accept(notarisedOf(pending)) ?? null;
        pending = undefined;
        if (report.finding) break;
      }
      report.finding ??= range.finish() ?? null;
      report.verified += range.verified;
      report.expired += range.expired;
      report.absentWhenNotarised += range.absentWhenNotarised;
      if (report.finding) break;
      report.checkpoints++;
      report.coveredTo = cp.lastSeq;
    }
  } finally {
    await messages?.return?.();
  }
  if (!report.finding) report.uncovered = await uncoveredTail(nc, stream, report.coveredTo ?? 0);
  return report;
}

async function uncoveredTail(
  nc: NatsConnection,
  stream: string,
  coveredTo: number,
): Promise<StreamAuditReport["uncovered"]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  if (state.last_seq <= coveredTo || state.messages === 0) return null;
  const fromSeq = Math.max(coveredTo + 1, state.first_seq);
  const oldest = await jsm.direct.getMessage(stream, { seq: fromSeq, next_by_subj: ">" }).catch(() => null);
  return {
    fromSeq,
    toSeq: state.last_seq,
    sequences: state.last_seq - fromSeq + 1,
    oldestStoredAt: oldest ? oldest.time.toISOString() : null,
  };
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
