import type { NotarisedMessage } from "../audit/index.js";
import type { StoredMessage } from "../nats/index.js";

/** A stored NATS message in the shape the chain hashes: every header with all its values. */
export function notarisedOf(message: StoredMessage): NotarisedMessage {
  const headers = message.headers;
  return {
    stream: message.stream,
    seq: message.seq,
    subject: message.subject,
    // Iterated, not read by name: nats.js's `values(name)` rescans every name for each one.
    headers: headers ? [...headers] : [],
    payload: message.data,
  };
}
