import type { NatsConnection } from "@nats-io/transport-node";
import type { MessageHeaders } from "./message-headers.js";
import { outgoingHeaders } from "./outgoing-headers.js";

/** A live notice as its receiver reads it, whether it crossed NATS or stayed in this process. */
export interface LiveNotice {
  subject: string;
  headers: MessageHeaders | undefined;
  /** The payload; an in-process notice builds it only if the receiver asks. */
  data(): Uint8Array;
  /** What the sender built the payload from; only on a notice that stayed in this process. */
  value?: unknown;
}

/** Receives the notices of one inbox; reports its own errors, never throws. */
export type LiveReceiver = (notice: LiveNotice) => void;

/** A notice to send on the live channel. */
export interface OutgoingNotice {
  /** The headers the receiver reads (kind, generation, sequence…). */
  headers: Readonly<Record<string, string>>;
  /**
   * The payload, and any headers that describe its encoding: built only when the notice
   * crosses NATS or an in-process receiver reads its bytes.
   */
  body(): { payload: Uint8Array; headers?: Readonly<Record<string, string>> };
  /** The value behind the payload (a validated event), handed as is to an in-process receiver. */
  value?: unknown;
}

/** A notice's own headers, read as a delivered message's are. */
class RecordHeaders implements MessageHeaders {
  constructor(private readonly record: Readonly<Record<string, string>>) {}
  get(name: string): string {
    return this.record[name] ?? "";
  }
  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const name in this.record) yield [name, [this.record[name]!]];
  }
}

/**
 * The live channel of one NATS connection: chunks and terminal notices from the stages to the
 * waiting gateway or producer, over core NATS (docs/architecture.md, "Live channel over core
 * NATS"). When the waiting gateway runs in this process on this connection (the default
 * deployment, every role in one process), a notice to its inbox does not make the round trip
 * through nats-server: it is handed to the gateway in a microtask, in the order sent, with the
 * value it was built from, so a terminal event is neither encoded nor decoded and validated
 * again. A notice to any other subject is published as before.
 */
export class LiveChannel {
  /** In-process receivers by inbox prefix (a notice's subject is `<inbox>.<request id>`). */
  private readonly receivers = new Map<string, LiveReceiver>();

  constructor(private readonly nc: NatsConnection) {}

  /** Hands the notices sent to `<inbox>.<one token>` to `receive`; returns the detach. */
  attach(inbox: string, receive: LiveReceiver): () => void {
    this.receivers.set(inbox, receive);
    return () => {
      if (this.receivers.get(inbox) === receive) this.receivers.delete(inbox);
    };
  }

  send(subject: string, notice: OutgoingNotice): void {
    const dot = subject.lastIndexOf(".");
    const receive =
      this.receivers.size > 0 && dot > 0 ? this.receivers.get(subject.slice(0, dot)) : undefined;
    if (receive === undefined) {
      const body = notice.body();
      const headers = body.headers ? { ...body.headers, ...notice.headers } : notice.headers;
      this.nc.publish(subject, body.payload, { headers: outgoingHeaders(headers) });
      return;
    }
    let payload: Uint8Array | undefined;
    const local: LiveNotice = {
      subject,
      headers: new RecordHeaders(notice.headers),
      data: () => {
        payload ??= notice.body().payload;
        return payload;
      },
      value: notice.value,
    };
    // Asynchronous, as a delivery over NATS is: the sender's code runs to its end first.
    queueMicrotask(() => receive(local));
  }
}
