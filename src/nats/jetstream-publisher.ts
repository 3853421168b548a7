import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

/** The stream's answer to a stored (or de-duplicated) message. */
export interface StoredAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A JetStream API error in the ack: `code` is the JetStream error code (e.g. 10071). */
export class JetStreamPublishError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status: number,
  ) {
    super(message);
    this.name = "JetStreamPublishError";
  }
}

interface Pending {
  resolve: (ack: StoredAck) => void;
  reject: (error: Error) => void;
  deadline: number;
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
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (_error, msg) => this.settle(msg) });
    this.sweeper = setInterval(() => this.expire(), Math.min(250, timeoutMs)).unref();
    void this.subscription.closed.then(() => this.failAll(new Error("the ack subscription closed")));
  }

  publish(subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<StoredAck> {
    const token = (this.counter++).toString(36);
    return new Promise<StoredAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
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
    this.failAll(new Error("the publisher closed"));
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const waiting = this.pending.get(token);
    if (!waiting) return; // already timed out: the caller retries with the same message id
    this.pending.delete(token);
    const status = msg.headers?.code ?? 0;
    if (status === 503) {
      const error = new Error("no responders: no stream is listening on the subject yet");
      error.name = "NoRespondersError";
      waiting.reject(error);
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
        waiting.reject(new JetStreamPublishError(description, err_code, code));
        return;
      }
      if (typeof body.stream !== "string" || typeof body.seq !== "number") {
        throw new Error(`unexpected publish ack: ${decoder.decode(msg.data).slice(0, 200)}`);
      }
      waiting.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true });
    } catch (error) {
      waiting.reject(error as Error);
    }
  }

  private expire(): void {
    if (this.pending.size === 0) return;
    const now = Date.now();
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) continue;
      this.pending.delete(token);
      const error = new Error(`timeout: no publish ack within ${this.timeoutMs} ms`);
      error.name = "TimeoutError";
      waiting.reject(error);
    }
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
