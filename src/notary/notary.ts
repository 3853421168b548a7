import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  auditSubject,
  type ChainPosition,
  CheckpointBuilder,
  genesisPosition,
  positionAfter,
  type SignedCheckpoint,
  signCheckpoint,
  signedCheckpointSchema,
} from "../audit/index.js";
import { BeamlineError } from "../errors/index.js";
import { getFromLeader, isWrongLastSequence, readStream, StreamNames } from "../nats/index.js";
import type { Logger } from "../observability/index.js";
import type { NotaryKey } from "./key.js";
import { notarisedOf } from "./messages.js";

/**
 * Every Beamline stream the notary follows: all of them but its own and the ingress, a work
 * queue whose messages are removed once checked (the record of a producer's request is the
 * request.accepted the ingress writes into BL_REQUESTS, which is notarised).
 */
export const NOTARISED_STREAMS: readonly string[] = Object.values(StreamNames).filter(
  (s) => s !== StreamNames.audit && s !== StreamNames.ingress,
);

export interface NotaryOptions {
  nc: NatsConnection;
  log: Logger;
  key: NotaryKey;
  now: () => Date;
  /** A checkpoint closes once its oldest message has waited this long (ms)... */
  checkpointIntervalMs: number;
  /** ...or once it holds this many messages. */
  checkpointMaxMessages: number;
  /** Pause between rounds once caught up (ms). */
  pollIntervalMs: number;
  /** Streams to follow; all of Beamline's by default. */
  streams?: readonly string[];
}

export interface RunningNotary {
  /** Checkpoints everything read so far, then stops. */
  stop(): Promise<void>;
}

/** The last checkpoint of a stream in BL_AUDIT and its subject sequence there, or none. */
export async function readLastCheckpoint(
  nc: NatsConnection,
  stream: string,
): Promise<{ checkpoint: SignedCheckpoint; auditSeq: number } | undefined> {
  const jsm = await jetstreamManager(nc);
  // From the stream leader: a lagging replica answering a direct get would hand the notary an
  // older checkpoint, and every write continuing it would be refused until the replica caught up.
  const stored = await getFromLeader(jsm, StreamNames.audit, { last_by_subj: auditSubject(stream) });
  if (!stored) return undefined;
  const parsed = signedCheckpointSchema.safeParse(stored.json());
  if (!parsed.success) {
    throw new BeamlineError(
      "BL_EVENT_INVALID",
      `the last checkpoint of ${stream} (${StreamNames.audit} sequence ${stored.seq}) is malformed: ${parsed.error.message}`,
    );
  }
  return { checkpoint: parsed.data, auditSeq: stored.seq };
}

interface StreamState {
  stream: string;
  /** Where the chain stands after the last checkpoint in BL_AUDIT. */
  position: ChainPosition;
  /** That checkpoint's sequence in BL_AUDIT: the expected last subject sequence of the next write. */
  auditSeq: number;
  builder: CheckpointBuilder;
  /** When the oldest message of the open checkpoint was folded (epoch ms). */
  openedAt: number | undefined;
}

/**
 * Starts the notary: follows every stream in sequence order and writes signed checkpoints to
 * BL_AUDIT on `bl.audit.<stream>`. Deterministic and crash-safe: it resumes from the last
 * checkpoint of each stream, so after a crash it recomputes from `lastSeq + 1`. A checkpoint
 * is written with msg id `<stream>:<lastSeq>` and "expected last subject sequence" = the
 * checkpoint it continues, so a retry is a duplicate and two notaries never fork a chain: the
 * loser re-reads the winner's checkpoint and continues from it.
 */
export async function startNotary(options: NotaryOptions): Promise<RunningNotary> {
  const { nc, log, key, now } = options;
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const states = new Map<string, StreamState>();

  const resync = async (stream: string): Promise<StreamState> => {
    const last = await readLastCheckpoint(nc, stream);
    const position = last ? positionAfter(last.checkpoint) : genesisPosition(stream);
    const state: StreamState = {
      stream,
      position,
      auditSeq: last?.auditSeq ?? 0,
      builder: new CheckpointBuilder(position),
      openedAt: undefined,
    };
    states.set(stream, state);
    return state;
  };
  for (const stream of options.streams ?? NOTARISED_STREAMS) await resync(stream);

  /** Writes the open checkpoint; false when another notary got there first (state re-read). */
  const write = async (state: StreamState): Promise<boolean> => {
    const body = state.builder.build(now().toISOString(), key.keyId);
    if (!body) return true;
    const signed = signCheckpoint(body, key.privateKey);
    try {
      const ack = await js.publish(auditSubject(state.stream), JSON.stringify(signed), {
        msgID: `${state.stream}:${body.lastSeq}`,
        expect: { lastSubjectSequence: state.auditSeq },
      });
      if (!ack.duplicate) {
        state.position = positionAfter(body);
        state.auditSeq = ack.seq;
        state.builder = new CheckpointBuilder(state.position);
        state.openedAt = undefined;
        log.debug(
          { stream: state.stream, firstSeq: body.firstSeq, lastSeq: body.lastSeq, count: body.count },
          "notary checkpoint written",
        );
        return true;
      }
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
    }
    // A duplicate or a lost race: what is in BL_AUDIT now is the truth to continue from.
    const again = await resync(state.stream);
    log.info(
      { stream: state.stream, nextSeq: again.position.nextSeq },
      "another notary checkpointed first; continuing from its checkpoint",
    );
    return false;
  };

  const dueByTime = (state: StreamState) =>
    state.openedAt !== undefined && now().getTime() - state.openedAt >= options.checkpointIntervalMs;

  let stopping = false;
  const follow = async (stream: string): Promise<void> => {
    let state = states.get(stream)!;
    const info = await jsm.streams.info(stream);
    if (info.state.last_seq >= state.builder.nextSeq && info.state.messages > 0) {
      for await (const message of readStream(nc, {
        stream,
        filters: info.config.subjects ?? [">"],
        fromSequence: state.builder.nextSeq,
      })) {
        state.builder.add(notarisedOf(message), message.storedAt);
        state.openedAt ??= now().getTime();
        if (state.builder.count >= options.checkpointMaxMessages || dueByTime(state)) {
          if (!(await write(state))) return;
          state = states.get(stream)!;
        }
        if (stopping) break;
      }
    }
    if (dueByTime(state)) await write(state);
  };

  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopping) {
      for (const stream of states.keys()) {
        if (stopping) break;
        try {
          await follow(stream);
        } catch (error) {
          log.warn({ err: error, stream }, "notary round failed; retrying next round");
        }
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollIntervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();

  log.info({ keyId: key.keyId, keySource: key.source, streams: [...states.keys()] }, "notary started");
  return {
    async stop() {
      stopping = true;
      wake?.();
      await loop;
      for (const state of states.values()) {
        await write(state).catch((error) =>
          log.warn({ err: error, stream: state.stream }, "notary could not write its last checkpoint"),
        );
      }
    },
  };
}
