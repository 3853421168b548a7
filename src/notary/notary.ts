import { setTimeout as sleep } from "node:timers/promises";
import { type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
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
import {
  getFromLeader,
  isWrongLastSequence,
  LIVE_PULL_TIMING,
  StreamNames,
  storedMessage,
} from "../nats/index.js";
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

/** Messages one pull of a notary's read asks for. */
const FOLLOW_BATCH = 256;
/** Messages hashed between two turns given back to the event loop while a backlog is read. */
const YIELD_EVERY = 64;

export interface NotaryOptions {
  nc: NatsConnection;
  log: Logger;
  key: NotaryKey;
  now: () => Date;
  /** A checkpoint closes once its oldest message has waited this long (ms)... */
  checkpointIntervalMs: number;
  /** ...or once it holds this many messages. */
  checkpointMaxMessages: number;
  /**
   * How often the age of an open checkpoint is checked (ms), and the pause before a read
   * that failed is started again.
   */
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
  /** The checkpoint write in flight, if any: nothing is folded meanwhile. */
  writing?: Promise<boolean> | undefined;
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

  const stopped = new AbortController();
  const stopping = () => stopped.signal.aborted;
  /** Each stream's running read, stopped to end it (on stop, or to re-read after a lost race). */
  const reading = new Map<string, ConsumerMessages>();

  /**
   * Writes the open checkpoint, one write per stream at a time: the read loop adds nothing
   * while a write it or the timer started is in flight. After a lost race the stream's read is
   * stopped, to be followed again from the winner's checkpoint.
   */
  const checkpoint = async (stream: string): Promise<void> => {
    let state = states.get(stream)!;
    while (state.writing) {
      await state.writing;
      state = states.get(stream)!;
    }
    const writing = write(state);
    state.writing = writing;
    try {
      if (!(await writing)) reading.get(stream)?.stop();
    } finally {
      state.writing = undefined;
    }
  };

  /**
   * Follows one stream live, from the open checkpoint's next sequence, with one ordered
   * consumer that lives as long as the read: each message is hashed shortly after it is
   * stored, so the work is spread evenly instead of arriving in a burst once a poll (a burst
   * of a second's messages held the event loop for milliseconds, the slow calls of
   * bench/tail-latency.ts). Ends when stopped, or when a lost race moved the chain.
   */
  const followOnce = async (stream: string): Promise<void> => {
    const origin = states.get(stream)!;
    const consumer = await js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: origin.builder.nextSeq,
    });
    // The stages' pull timing: after a node dies the read resumes within about a second of the
    // new leader; nats.js's default heartbeat (15 s, two missed) held it for half a minute.
    const messages = await consumer.consume({ max_messages: FOLLOW_BATCH, ...LIVE_PULL_TIMING });
    reading.set(stream, messages);
    if (stopping()) messages.stop(); // stop() came while this read was being set up
    // A checkpoint also closes by age when no message comes to close it.
    const timer = setInterval(() => {
      const state = states.get(stream)!;
      if (state === origin && !state.writing && dueByTime(state)) {
        checkpoint(stream).catch((error) =>
          log.warn({ err: error, stream }, "notary checkpoint failed; retrying at the next check"),
        );
      }
    }, options.pollIntervalMs);
    try {
      let sinceYield = 0;
      for await (const msg of messages) {
        if (stopping()) break;
        while (origin.writing) await origin.writing;
        if (states.get(stream) !== origin) break; // a lost race: follow again from the winner's checkpoint
        if (msg.seq < origin.builder.nextSeq) continue;
        const stored = storedMessage(stream, msg);
        origin.builder.add(notarisedOf(stored), stored.storedAt);
        origin.openedAt ??= now().getTime();
        if (origin.builder.count >= options.checkpointMaxMessages) await checkpoint(stream);
        // A backlog (after a restart) arrives faster than it is hashed: let other work run.
        if (++sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      clearInterval(timer);
      reading.delete(stream);
      messages.stop();
      await consumer.delete().catch(() => false);
    }
  };

  const follow = async (stream: string): Promise<void> => {
    while (!stopping()) {
      const origin = states.get(stream)!;
      try {
        await followOnce(stream);
      } catch (error) {
        if (!stopping()) log.warn({ err: error, stream }, "notary read failed; following again shortly");
      }
      // After a lost race the winner's checkpoint is followed at once; a read that ended by
      // itself (NATS away, the consumer gone) starts again after a pause.
      if (!stopping() && states.get(stream) === origin) {
        await sleep(options.pollIntervalMs, undefined, { signal: stopped.signal }).catch(() => undefined);
      }
    }
  };
  const loops = [...states.keys()].map((stream) => follow(stream));

  log.info({ keyId: key.keyId, keySource: key.source, streams: [...states.keys()] }, "notary started");
  return {
    async stop() {
      stopped.abort();
      for (const messages of reading.values()) messages.stop();
      await Promise.all(loops);
      for (const stream of states.keys()) {
        await checkpoint(stream).catch((error) =>
          log.warn({ err: error, stream }, "notary could not write its last checkpoint"),
        );
      }
    },
  };
}
