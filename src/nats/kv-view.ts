import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/index.js";

/** A live, in-memory copy of a KV bucket, kept current by a watch. */
export interface KvView<T> {
  get(key: string): T | undefined;
  /** Resolves once the bucket's contents at start are loaded. */
  readonly ready: Promise<void>;
  stop(): void;
}

const decoder = new TextDecoder();

/**
 * Watches a KV bucket and keeps every key's decoded value in memory, so reads are map lookups
 * and a change reaches every instance as fast as the watch delivers it (milliseconds).
 * An entry `decode` rejects is logged and left out, never applied half-read.
 */
export async function watchKvView<T>(
  nc: NatsConnection,
  bucket: string,
  decode: (value: unknown, key: string) => T,
  log: Logger,
  onChange?: (key: string, value: T | undefined) => void,
): Promise<KvView<T>> {
  const kv = await new Kvm(nc).open(bucket);
  const values = new Map<string, T>();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const watcher = await kv.watch();
  // An empty bucket delivers nothing initially; otherwise the initial batch ends at delta 0.
  if ((await kv.status()).values === 0) markReady();
  void (async () => {
    for await (const entry of watcher) {
      if (entry.operation === "PUT") {
        try {
          const value = decode(JSON.parse(decoder.decode(entry.value)), entry.key);
          values.set(entry.key, value);
          onChange?.(entry.key, value);
        } catch (error) {
          log.error({ err: error, bucket, key: entry.key }, "unreadable KV entry left out of the view");
        }
      } else {
        values.delete(entry.key);
        onChange?.(entry.key, undefined);
      }
      if (entry.delta === 0) markReady();
    }
  })();
  return { get: (key) => values.get(key), ready, stop: () => watcher.stop() };
}
