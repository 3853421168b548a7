import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type BeamlineError, toBeamlineError } from "../errors/index.js";
import { type BeamlineEvent, deadLetterSubject } from "../events/index.js";
import {
  type BeamlineMetrics,
  contextFromTraceparent,
  endSpan,
  type Logger,
  startSpan,
} from "../observability/index.js";
import type { EventTrust } from "./event-signing.js";
import type { EventStore, StoredEventMessage } from "./event-store.js";
import { failpoint } from "./failpoints.js";
import { headersOf } from "./message-headers.js";
import { StreamNames } from "./names.js";
import { isTransientNatsError } from "./transient.js";

/** What a stage does with one event. Throwing means "not done": the message comes back. */
export interface StageHandler {
  /** Consumer (and metric label) name. */
  readonly name: string;
  readonly stream: string;
  handle(event: BeamlineEvent, delivery: Delivery): Promise<void>;
  /**
   * True when the handler needs prompts and completions (the request worker): sealed content
   * is opened before `handle`. Others get events with content absent and skip the decryption.
   */
  readonly readsContent?: boolean;
  /**
   * Called once when the message's last allowed delivery failed, before it is dead-lettered:
   * the stage ends the request (request.failed) so no client waits forever.
   */
  giveUp?(event: BeamlineEvent, error: BeamlineError): Promise<void>;
  /**
   * True for events this stage acts on only when Beamline wrote them (signed with the event
   * signing key, or pre-upgrade history): requests for the worker, configuration for the
   * projectors. Any other such event is acknowledged and ignored — never served, projected or
   * answered — and reported in logs and `beamline_stage_messages_total{outcome="untrusted"}`.
   */
  requiresSignature?(event: BeamlineEvent): boolean;
  /**
   * When set, the runner wraps each `handle` in a consumer span of this name under the event's
   * `traceparent` (stages that open their own spans, like the worker and billing, leave it out).
   */
  readonly spanName?: string;
  /**
   * The consumer's priority group, for a consumer that has one (the server refuses pulls
   * without it); e.g. a `pinned_client` group, where one instance receives everything.
   */
  readonly priorityGroup?: string;
}

/** Facts about this delivery of a message that a handler may need. */
export interface Delivery {
  /** 1 on first delivery; more after a crash or a retry. */
  deliveryCount: number;
  /** Stream sequence of the message. */
  streamSequence: number;
  subject: string;
}

export interface StageRunnerOptions {
  store: EventStore;
  handler: StageHandler;
  log: Logger;
  metrics: BeamlineMetrics;
  /** The consumer's ack wait: in-progress heartbeats are sent at a third of it. */
  ackWaitMs: number;
  /** The consumer's max deliveries: the last one gives up instead of retrying. */
  maxDeliver: number;
  /** Messages pulled per batch; bounded further by the consumer's max_ack_pending. */
  batchSize?: number;
}

export interface RunningStage {
  readonly name: string;
  /** Stops pulling, waits for in-flight messages to finish (or `drainMs`), leaves the rest to others. */
  stop(drainMs?: number): Promise<void>;
}

/**
 * How long one pull request lives. nats.js's default, 30 s, left every request waiting 28 s
 * after a new leader was elected in the cluster fault suite (see {@link IDLE_HEARTBEAT_MS});
 * 2 s costs one small pull request every 2 s per idle consumer.
 */
const PULL_EXPIRES_MS = 2_000;

/**
 * The server's heartbeat on an idle pull. A pull held by a consumer leader that died (SIGKILL,
 * no goodbye) is only noticed by two missed heartbeats, after which nats.js pulls again, and
 * at every missed heartbeat after until a new leader takes the pull. nats.js's default is
 * half the expiry (1 s here, so 2 s unnoticed); 500 ms, its floor, notices within about 1 s,
 * which the cluster fault suite's answer bar (5 s after the elections end) needs more than
 * the server needs the saved heartbeat.
 */
const IDLE_HEARTBEAT_MS = 500;

/**
 * The pull timing of every long-lived read (stages, the notary): a pull held by a consumer
 * leader that died is noticed within about a second, not after nats.js's default 2 × 15 s.
 */
export const LIVE_PULL_TIMING = { expires: PULL_EXPIRES_MS, idle_heartbeat: IDLE_HEARTBEAT_MS } as const;

/** Redelivery delay after a failure: grows with the delivery count, capped at 10 s. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(10_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
}

/**
 * Runs one stage as a durable pull consumer. Any number of processes may run the same
 * stage: the consumer spreads messages among them, and a message whose worker dies is
 * delivered again after the ack wait. Handlers must therefore be idempotent (they are:
 * every write is once-per-slot or de-duplicated by event id).
 */
export async function runStage(options: StageRunnerOptions): Promise<RunningStage> {
  const { store, handler, log, metrics } = options;
  const consumer = await store.js.consumers.get(handler.stream, handler.name);
  const inFlight = new Set<Promise<void>>();
  const heartbeatMs = Math.max(1000, Math.floor(options.ackWaitMs / 3));

  const process = async (msg: JsMsg): Promise<void> => {
    const started = performance.now();
    const deliveryCount = msg.info.deliveryCount;
    let event: BeamlineEvent;
    let trust: EventTrust;
    try {
      // The signature is checked once, here: a signed event of the current version skips validation.
      ({ event, trust } = await store.decodeStored(storedMessage(msg), {
        open: handler.readsContent === true,
      }));
    } catch (error) {
      // Opening content reads the tenant's data key from KV: NATS being unavailable for a
      // moment makes a good message undecodable, and dead-lettering it as poison would leave
      // an accepted request without a terminal event and its client waiting.
      if (isTransientNatsError(error)) {
        await notOpenedYet(msg, toBeamlineError(error, "BL_NATS_UNAVAILABLE"));
        return;
      }
      await deadLetter(msg, toBeamlineError(error, "BL_EVENT_INVALID"));
      metrics.stageMessages.inc({ stage: handler.name, outcome: "poison" });
      return;
    }
    if (handler.requiresSignature?.(event)) {
      if (trust !== "signed" && trust !== "history") {
        // Logged without the payload: a forged event may carry anything.
        log.warn(
          { stage: handler.name, subject: msg.subject, seq: msg.seq, type: event.type, trust },
          "ignored an event Beamline did not write (missing or bad signature)",
        );
        metrics.stageMessages.inc({ stage: handler.name, outcome: "untrusted" });
        msg.ack();
        return;
      }
    }
    const heartbeat = setInterval(() => msg.working(), heartbeatMs);
    try {
      failpoint(`${handler.name}.before-handle`);
      await handleTraced(handler, event, { deliveryCount, streamSequence: msg.seq, subject: msg.subject });
      failpoint(`${handler.name}.after-handle`);
      msg.ack();
      metrics.stageMessages.inc({ stage: handler.name, outcome: "ok" });
    } catch (thrown) {
      const error = toBeamlineError(thrown);
      const lastTry = isLastTry(msg, error);
      log.warn(
        {
          stage: handler.name,
          tenant: event.tenant,
          requestId: event.requestId,
          code: error.code,
          deliveryCount,
          err: error,
        },
        lastTry ? "stage gave up on a message" : "stage failed on a message; it will be retried",
      );
      await retryOrGiveUp(msg, error, () => handler.giveUp?.(event, error));
    } finally {
      clearInterval(heartbeat);
      metrics.stageDuration.observe({ stage: handler.name }, (performance.now() - started) / 1000);
    }
  };

  /**
   * A message that could not be decoded for a transient NATS failure comes back later, like a
   * handler's failure; on its last delivery the stage ends the request from the envelope (read
   * without opening content) before dead-lettering it, so no client waits forever.
   */
  const notOpenedYet = async (msg: JsMsg, error: BeamlineError): Promise<void> => {
    log.warn(
      {
        stage: handler.name,
        subject: msg.subject,
        seq: msg.seq,
        code: error.code,
        deliveryCount: msg.info.deliveryCount,
        err: error,
      },
      isLastTry(msg, error)
        ? "stage gave up on a message it could not read"
        : "could not read a message yet; it will be retried",
    );
    await retryOrGiveUp(msg, error, async () => {
      const { event, trust } = await store.decodeStored(storedMessage(msg), { open: false });
      const trusted = !handler.requiresSignature?.(event) || trust === "signed" || trust === "history";
      if (trusted) await handler.giveUp?.(event, error);
    });
  };

  /** The message's last chance: its deliveries are spent, or the error says retrying cannot help. */
  const isLastTry = (msg: JsMsg, error: BeamlineError): boolean =>
    msg.info.deliveryCount >= options.maxDeliver || error.handling === "terminate";

  /**
   * A failed delivery comes back after a growing delay; the last one first ends the request
   * (`endRequest`, so no client waits forever), then is dead-lettered.
   */
  const retryOrGiveUp = async (
    msg: JsMsg,
    error: BeamlineError,
    endRequest: () => Promise<void> | undefined,
  ): Promise<void> => {
    if (!isLastTry(msg, error)) {
      msg.nak(error.retryAfterMs ?? retryDelayMs(msg.info.deliveryCount));
      metrics.stageMessages.inc({ stage: handler.name, outcome: "retry" });
      return;
    }
    try {
      await endRequest();
    } catch (giveUpError) {
      log.error({ stage: handler.name, err: giveUpError }, "could not end the request after giving up");
    }
    await deadLetter(msg, error);
    metrics.stageMessages.inc({ stage: handler.name, outcome: "dead" });
  };

  /** A delivered message as the store judges it (the server's store time from the delivery info). */
  const storedMessage = (msg: JsMsg): StoredEventMessage => ({
    subject: msg.subject,
    payload: msg.data,
    headers: headersOf(msg),
    storedAt: new Date(Math.floor(msg.info.timestampNanos / 1e6)),
  });

  /** Keeps a copy of an unprocessable message for operators, then stops its redelivery. */
  const deadLetter = async (msg: JsMsg, error: BeamlineError): Promise<void> => {
    const h = natsHeaders();
    h.set("bl-dead-stage", handler.name);
    h.set("bl-dead-subject", msg.subject);
    h.set("bl-dead-sequence", String(msg.seq));
    h.set("bl-dead-code", error.code);
    h.set("bl-dead-reason", error.message.slice(0, 512).replace(/[\r\n]+/g, " "));
    try {
      await store.js.publish(deadLetterSubject(handler.name), msg.data, {
        headers: h,
        msgID: `${StreamNames.requests}:${msg.seq}:${handler.name}`,
      });
      msg.term(error.code);
    } catch (publishError) {
      // Without a dead-letter copy the message must not be dropped: let it come back.
      log.error(
        { stage: handler.name, err: publishError },
        "dead-letter write failed; message will be redelivered",
      );
      msg.nak(retryDelayMs(msg.info.deliveryCount));
    }
  };

  const messages: ConsumerMessages = await consumer.consume({
    max_messages: options.batchSize ?? 256,
    ...LIVE_PULL_TIMING,
    // After missed heartbeats or a reconnect, pull again at once. Unbound, nats.js first asks
    // for the consumer's info, which nobody answers while the consumer elects a leader: it
    // waited out the 5 s API timeout and then the pull's 2 s expiry before pulling again, so a
    // stage resumed up to 7 s after the election. The consumer was looked up at start, and
    // the topology owns it: nothing here needs the check.
    bind: true,
    ...(handler.priorityGroup !== undefined ? { group: handler.priorityGroup } : {}),
    callback: (msg) => {
      const work = process(msg).catch((error) =>
        log.error({ stage: handler.name, err: error }, "stage crashed"),
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
  });

  return {
    name: handler.name,
    async stop(drainMs = 10_000) {
      await messages.close().catch(() => undefined);
      const drained = Promise.allSettled([...inFlight]);
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    },
  };
}

/** Runs `handle`, in the handler's span when it names one. */
async function handleTraced(handler: StageHandler, event: BeamlineEvent, delivery: Delivery): Promise<void> {
  if (handler.spanName === undefined) return handler.handle(event, delivery);
  const span = startSpan(handler.spanName, contextFromTraceparent(event.traceparent), "consumer", {
    "beamline.tenant": event.tenant,
    "beamline.request_id": event.requestId,
    "beamline.event_type": event.type,
    "beamline.stream_sequence": delivery.streamSequence,
  });
  try {
    await handler.handle(event, delivery);
    endSpan(span);
  } catch (error) {
    endSpan(span, error as Error);
    throw error;
  }
}
