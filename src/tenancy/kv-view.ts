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
  /** Lookup by the secondary key given at creation (`secondaryKey`), e.g. an API key's id. */
  lookupBy(secondary: string): R | undefined;
  /** Resolves once the bucket's contents at start are loaded. */
  ready: Promise<void>;
  stop(): void;
}

export async function watchKvView<R>(
  nc: NatsConnection,
  bucket: string,
  decode: (value: Uint8Array) => R,
  log: Logger,
  secondaryKey?: (record: R) => string,
): Promise<KvView<R>> {
  const kv = await new Kvm(nc).open(bucket);
  const records = new Map<string, R>();
  const secondary = new Map<string, string>();
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
          const record = decode(entry.value);
          records.set(entry.key, record);
          if (secondaryKey) secondary.set(secondaryKey(record), entry.key);
        } catch (error) {
          // The key (an API key's hash) is not logged: a record is identified by bucket only.
          log.error({ err: error, bucket }, "unreadable record in KV view");
        }
      } else {
        const removed = records.get(entry.key);
        if (removed !== undefined && secondaryKey) secondary.delete(secondaryKey(removed));
        records.delete(entry.key);
      }
    }
  })();
  return {
    lookup: (key) => records.get(key),
    lookupBy: (key) => {
      const primary = secondary.get(key);
      return primary === undefined ? undefined : records.get(primary);
    },
    ready,
    stop: () => watcher.stop(),
  };
}
