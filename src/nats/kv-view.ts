import { setTimeout as sleep } from "node:timers/promises";
import { type KV, Kvm, type KvWatchEntry, type KvWatchOptions } from "@nats-io/kv";
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
  // An empty bucket delivers nothing initially; otherwise the initial batch ends at delta 0.
  const empty = (await kv.status()).values === 0;
  const remove = (key: string) => {
    const removed = values.get(key);
    if (removed !== undefined && secondaryKey) secondary.delete(secondaryKey(removed));
    values.delete(key);
  };
  const watch = await followKvWatch(nc, kv, {
    bucket,
    log,
    onEntry(entry) {
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
    },
  });
  if (empty) markReady();
  return {
    get: (key) => values.get(key),
    lookupBy: (key) => {
      const primary = secondary.get(key);
      return primary === undefined ? undefined : values.get(primary);
    },
    entries: () => values,
    ready,
    stop: () => watch.stop(),
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

/** Options of {@link followKvWatch}. */
export interface FollowKvWatchOptions {
  bucket: string;
  log: Logger | undefined;
  /** Called for every entry, in revision order; it must not throw (a throw is logged and skipped). */
  onEntry(entry: KvWatchEntry): void;
  /** The watch's filter and what it includes at start (the default: every key's last value). */
  watch?: Omit<KvWatchOptions, "resumeFromRevision">;
}

/** A KV watch that outlives failures of its iterator; see {@link followKvWatch}. */
export interface FollowedKvWatch {
  /** Ends the watch; no entry is delivered after it. */
  stop(): void;
}

/** Longest pause between two tries to watch again after a failure, in milliseconds. */
const REWATCH_MAX_DELAY_MS = 5_000;

/**
 * Watches `kv` and hands every entry to `onEntry`, for as long as the connection lives. The
 * first watch is opened before this resolves, so a failure to open it fails the caller's
 * start (which retries transient ones). After that, a watch whose iterator fails or ends (a
 * consumer lost in a cluster fail-over, a JetStream API timeout under load) is opened again
 * from the revision after the last one delivered, so no change is missed or repeated and no
 * failure escapes as an unhandled rejection. It stops for good when the connection closes.
 */
export async function followKvWatch(
  nc: NatsConnection,
  kv: KV,
  options: FollowKvWatchOptions,
): Promise<FollowedKvWatch> {
  const { bucket, log } = options;
  let stopped = false;
  let lastRevision = 0;
  let watcher = await kv.watch(options.watch);
  const deliver = (entry: KvWatchEntry) => {
    lastRevision = Math.max(lastRevision, entry.revision);
    try {
      options.onEntry(entry);
    } catch (error) {
      log?.error({ err: error, bucket }, "a KV watch handler failed; entry skipped");
    }
  };
  const follow = async () => {
    let delayMs = 100;
    while (!stopped) {
      try {
        for await (const entry of watcher) {
          if (stopped) return;
          deliver(entry);
          delayMs = 100;
        }
      } catch (error) {
        if (stopped || nc.isClosed()) return;
        log?.warn({ err: error, bucket, lastRevision }, "KV watch failed; watching again");
      }
      if (stopped || nc.isClosed()) return;
      // Watch again after the last revision seen, until it opens or the connection closes.
      for (;;) {
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, REWATCH_MAX_DELAY_MS);
        if (stopped || nc.isClosed()) return;
        try {
          watcher = await kv.watch({
            ...options.watch,
            ...(lastRevision > 0 ? { resumeFromRevision: lastRevision + 1 } : {}),
          });
          break;
        } catch (error) {
          log?.warn({ err: error, bucket, lastRevision }, "KV watch could not be opened again; retrying");
        }
      }
    }
  };
  // follow() catches everything it awaits; the catch is a last guard against a bug in it.
  follow().catch((error: unknown) => log?.error({ err: error, bucket }, "KV watch loop ended"));
  return {
    stop() {
      stopped = true;
      watcher.stop();
    },
  };
}
