import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  type Subscription,
  TimeoutError,
} from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import { inboxFor } from "./connect.js";

/** The stream's answer to a stored (or de-duplicated) message. */
export interface StoredAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/**
 * JetStream refused a publish (`BL_NATS_PUBLISH_FAILED`): its ack carried an API error, or was
 * no ack at all. `apiCode` is JetStream's `err_code` (e.g. 10071, wrong last sequence; 0 when
 * the ack was unreadable) and `apiStatus` its HTTP-like status (e.g. 400, 503).
 */
export class JetStreamPublishError extends BeamlineError {
  constructor(
    message: string,
    readonly apiCode: number,
    readonly apiStatus: number,
    cause?: unknown,
  ) {
    super("BL_NATS_PUBLISH_FAILED", message, { cause });
    this.name = "JetStreamPublishError";
  }
}

/** The write's fate is unknown; the caller may retry with the same message id. */
function unavailable(message: string, cause?: Error): BeamlineError {
  return new BeamlineError("BL_NATS_UNAVAILABLE", message, cause === undefined ? {} : { cause });
}

interface Pending {
  subject: string;
  resolve: (ack: StoredAck) => void;
  reject: (error: Error) => void;
  deadline: number;
  timeoutMs: number;
}

const decoder = new TextDecoder();

/**
 * Publishes to JetStream and awaits each stream ack on one shared wildcard reply
 * subscription, matched by a counter token.
 *
 * Why not `js.publish`: it runs every publish through a request object whose clean-up, even
 * on success, builds a `RequestError` (with a stack trace) that nobody reads — measured at
 * 4-5 % of the router's CPU under load (bench/RESULTS.md). Here an ack costs one map lookup
 * and one JSON parse; expiry is one sweep timer for all pending publishes, not one per call.
 * The semantics are JetStream's own: the message id and expected-sequence headers are set by
 * the caller, and the server's API errors surface with their JetStream error code.
 */
export class JetStreamPublisher {
  private readonly prefix: string;
  private readonly pending = new Map<string, Pending>();
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private counter = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.prefix = `${inboxFor(nc)}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (_error, msg) => this.settle(msg) });
    this.sweeper = setInterval(() => this.expire(), Math.min(250, timeoutMs)).unref();
    void this.subscription.closed.then(() =>
      this.failAll(unavailable("the publish ack subscription closed")),
    );
  }

  /** `timeoutMs` overrides the publisher's ack timeout for this one publish (swept every ≤ 250 ms). */
  publish(
    subject: string,
    payload: Uint8Array,
    headers: MsgHdrs,
    timeoutMs = this.timeoutMs,
  ): Promise<StoredAck> {
    const token = (this.counter++).toString(36);
    return new Promise<StoredAck>((resolve, reject) => {
      this.pending.set(token, { subject, resolve, reject, deadline: Date.now() + timeoutMs, timeoutMs });
      try {
        this.nc.publish(subject, payload, { reply: this.prefix + token, headers });
      } catch (error) {
        this.pending.delete(token);
        reject(error as Error);
      }
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    this.failAll(unavailable("the JetStream publisher closed before the ack arrived"));
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const waiting = this.pending.get(token);
    if (!waiting) return; // already timed out: the caller retries with the same message id
    this.pending.delete(token);
    const status = msg.headers?.code ?? 0;
    if (status === 503) {
      // nats.js's own class, so the error is classified like one from `js.publish`.
      waiting.reject(
        unavailable(
          `no stream is listening on ${waiting.subject} yet`,
          new NoRespondersError(waiting.subject),
        ),
      );
      return;
    }
    try {
      const body = JSON.parse(decoder.decode(msg.data)) as {
        stream?: string;
        seq?: number;
        duplicate?: boolean;
        error?: { code?: number; err_code?: number; description?: string };
      };
      if (body.error) {
        const { code = 500, err_code = 0, description = "unknown JetStream error" } = body.error;
        waiting.reject(
          new JetStreamPublishError(`${description} (JetStream error ${err_code})`, err_code, code),
        );
        return;
      }
      if (typeof body.stream !== "string" || typeof body.seq !== "number") {
        throw new JetStreamPublishError(
          `unexpected publish ack: ${decoder.decode(msg.data).slice(0, 200)}`,
          0,
          status,
        );
      }
      waiting.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true });
    } catch (error) {
      waiting.reject(
        error instanceof JetStreamPublishError
          ? error
          : new JetStreamPublishError("unreadable publish ack (not JSON)", 0, status, error),
      );
    }
  }

  private expire(): void {
    if (this.pending.size === 0) return;
    const now = Date.now();
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) continue;
      this.pending.delete(token);
      waiting.reject(unavailable(`no publish ack within ${waiting.timeoutMs} ms`, new TimeoutError()));
    }
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
