import type { NotarisedMessage } from "../audit/index.js";
import type { StoredMessage } from "../nats/index.js";

/** A stored NATS message in the shape the chain hashes: every header with all its values. */
export function notarisedOf(message: StoredMessage): NotarisedMessage {
  const headers = message.headers;
  return {
    stream: message.stream,
    seq: message.seq,
    subject: message.subject,
    headers: headers ? headers.keys().map((name) => [name, headers.values(name)] as const) : [],
    payload: message.data,
  };
}
