import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/index.js";

/**
 * A live, in-memory copy of one KV bucket: a KV watch delivers the current contents and then
 * every change as it is written, so a read is a map lookup and a change made on any instance
 * reaches every instance within milliseconds, without restart or polling.
 */
export interface KvView<T> {
  get(key: string): T | undefined;
  /** Lookup by the secondary key given at creation (`secondaryKey`), e.g. an API key's id. */
  lookupBy(secondary: string): T | undefined;
  /** Every value, keyed by its KV key (read-only: the view owns it). */
  entries(): ReadonlyMap<string, T>;
  /** Resolves once the bucket's contents at start are loaded. */
  readonly ready: Promise<void>;
  stop(): void;
}

export interface KvViewOptions<T> {
  /** Turns a stored value into a record; throwing leaves the entry out (logged), never half-read. */
  decode: (value: Uint8Array, key: string) => T;
  log: Logger | undefined;
  /** A second index, e.g. an API key record's id (keys are stored by hash). */
  secondaryKey?: (value: T) => string;
  /** Keys that are secrets (API key hashes) are never logged. */
  keysAreSecret?: boolean;
}

/** `decode` for JSON values. */
export function jsonValue<T>(
  decode: (value: unknown, key: string) => T,
): (value: Uint8Array, key: string) => T {
  const decoder = new TextDecoder();
  return (value, key) => decode(JSON.parse(decoder.decode(value)), key);
}

/**
 * Watches a KV bucket and keeps every key's decoded value in memory. An entry `decode`
 * rejects is logged and left out; the value before it, if any, stays (a bad write must not
 * turn a tenant's policy back into the default).
 */
export async function watchKvView<T>(
  nc: NatsConnection,
  bucket: string,
  options: KvViewOptions<T>,
): Promise<KvView<T>> {
  const { decode, log, secondaryKey } = options;
  const kv = await new Kvm(nc).open(bucket);
  const values = new Map<string, T>();
  const secondary = new Map<string, string>();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const watcher = await kv.watch();
  // An empty bucket delivers nothing initially; otherwise the initial batch ends at delta 0.
  if ((await kv.status()).values === 0) markReady();
  const remove = (key: string) => {
    const removed = values.get(key);
    if (removed !== undefined && secondaryKey) secondary.delete(secondaryKey(removed));
    values.delete(key);
  };
  void (async () => {
    for await (const entry of watcher) {
      if (entry.operation === "PUT") {
        try {
          const value = decode(entry.value, entry.key);
          remove(entry.key);
          values.set(entry.key, value);
          if (secondaryKey) secondary.set(secondaryKey(value), entry.key);
        } catch (error) {
          log?.error(
            { err: error, bucket, ...(options.keysAreSecret ? {} : { key: entry.key }) },
            "unreadable KV entry left out of the view",
          );
        }
      } else {
        remove(entry.key);
      }
      if (entry.delta === 0) markReady();
    }
  })();
  return {
    get: (key) => values.get(key),
    lookupBy: (key) => {
      const primary = secondary.get(key);
      return primary === undefined ? undefined : values.get(primary);
    },
    entries: () => values,
    ready,
    stop: () => watcher.stop(),
  };
}

/** A fixed view (tests, tools): the same reads over a plain record, nothing watched. */
export function staticKvView<T>(entries: Record<string, T>, secondaryKey?: (value: T) => string): KvView<T> {
  const values = new Map(Object.entries(entries));
  const secondary = new Map([...values].map(([key, value]) => [secondaryKey?.(value) ?? key, key]));
  return {
    get: (key) => values.get(key),
    lookupBy: (key) => (secondaryKey ? values.get(secondary.get(key) ?? "") : undefined),
    entries: () => values,
    ready: Promise.resolve(),
    stop: () => undefined,
  };
}
