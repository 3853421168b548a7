import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** Every stored message of every stream (KV buckets included): subject, headers and data. */
export async function everyStoredMessage(nc: NatsConnection): Promise<Map<string, Buffer[]>> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const out = new Map<string, Buffer[]>();
  for await (const info of jsm.streams.list()) {
    const messages: Buffer[] = [];
    const { first_seq: first, last_seq: last, messages: count } = info.state;
    for (let seq = first; count > 0 && seq <= last; seq++) {
      const msg = await jsm.direct.getMessage(info.config.name, { seq }).catch(() => null);
      if (!msg) continue;
      const headers = msg.header ? [...msg.header.keys()].map((k) => `${k}: ${msg.header.get(k)}`) : [];
      messages.push(
        Buffer.concat([Buffer.from(`${msg.subject}\n${headers.join("\n")}\n`), Buffer.from(msg.data)]),
      );
    }
    out.set(info.config.name, messages);
  }
  return out;
}
