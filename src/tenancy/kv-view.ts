import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/index.js";

/**
 * A live, in-memory copy of one KV bucket: a KV watch delivers the current contents and then
 * every change as it is written, so a lookup is a map read and a change made on any instance
 * reaches every instance within milliseconds, without restart or polling.
 */
export interface KvView<R> {
  lookup(key: string): R | undefined;
  /** Resolves once the bucket's contents at start are loaded. */
  ready: Promise<void>;
  stop(): void;
}

export async function watchKvView<R>(
  nc: NatsConnection,
  bucket: string,
  decode: (value: Uint8Array) => R,
  log: Logger,
): Promise<KvView<R>> {
  const kv = await new Kvm(nc).open(bucket);
  const records = new Map<string, R>();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const watcher = await kv.watch();
  // An empty bucket delivers nothing initially; otherwise the initial batch ends at delta 0.
  if ((await kv.status()).values === 0) markReady();
  void (async () => {
    for await (const entry of watcher) {
      if (entry.delta === 0) markReady();
      if (entry.operation === "PUT") {
        try {
          records.set(entry.key, decode(entry.value));
        } catch (error) {
          // The key (an API key's hash) is not logged: a record is identified by bucket only.
          log.error({ err: error, bucket }, "unreadable record in KV view");
        }
      } else {
        records.delete(entry.key);
      }
    }
  })();
  return {
    lookup: (key) => records.get(key),
    ready,
    stop: () => watcher.stop(),
  };
}
