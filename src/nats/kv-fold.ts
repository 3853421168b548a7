import type { KV } from "@nats-io/kv";
import { BeamlineError } from "../errors/index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A KV value as JSON; projection records are plain data. */
export function encodeRecord(record: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decodeRecord<R>(value: Uint8Array): R {
  return JSON.parse(decoder.decode(value)) as R;
}

/**
 * Folds one event into the KV record under `key` with a revision check: two projector
 * instances racing on one key both re-read and re-apply, and because the reducers are
 * order-free merges the result is the same whichever wins. `fold` returns the current record
 * unchanged (same object) when the event changes nothing, so a redelivery writes nothing.
 */
export async function foldIntoKv<R>(
  kv: KV,
  key: string,
  fold: (current: R | undefined) => R | undefined,
  what: string,
): Promise<void> {
  for (let tries = 0; tries < 20; tries++) {
    const entry = await kv.get(key);
    const current = entry && entry.operation === "PUT" ? decodeRecord<R>(entry.value) : undefined;
    const next = fold(current);
    if (!next || next === current) return;
    try {
      if (entry) await kv.update(key, encodeRecord(next), entry.revision);
      else await kv.create(key, encodeRecord(next));
      return;
    } catch (error) {
      if (!isRevisionConflict(error)) throw error;
    }
  }
  throw new BeamlineError("BL_INTERNAL", `${what} projection kept losing races on ${key.slice(0, 8)}…`);
}

/** A KV record as last written or read by this process, with the revision it has there. */
interface KnownRecord<R> {
  /** Undefined when the key holds a delete marker (the revision still guards the write). */
  record: R | undefined;
  revision: number;
}

/** What {@link createKvFolder} returns: folds one event's step into a key. */
export type KvFolder<R> = (key: string, step: (current: R | undefined) => R | undefined) => Promise<void>;

/**
 * Like {@link foldIntoKv}, without the read before each write: the folder remembers every
 * record it wrote (or read) with its revision and writes the next one with that revision as
 * the expected one. Only a revision conflict (another instance wrote the key since) drops
 * the remembered record and re-reads it. A remembered record can only be older than the
 * stored one, never newer, so a step that is a no-op on it (an event already folded) is a
 * no-op on the stored record too. At most `maxKeys` records are remembered, the least
 * recently used dropped first; a dropped key costs one read on its next fold.
 */
export function createKvFolder<R>(kv: KV, what: string, maxKeys = 10_000): KvFolder<R> {
  const known = new Map<string, KnownRecord<R>>();
  const remember = (key: string, value: KnownRecord<R>) => {
    known.delete(key);
    known.set(key, value);
    if (known.size > maxKeys) known.delete(known.keys().next().value as string);
  };
  const read = async (key: string): Promise<KnownRecord<R> | undefined> => {
    const entry = await kv.get(key);
    if (!entry) return undefined;
    const record = entry.operation === "PUT" ? decodeRecord<R>(entry.value) : undefined;
    return { record, revision: entry.revision };
  };
  return async (key, step) => {
    for (let tries = 0; tries < 20; tries++) {
      const current = known.get(key) ?? (await read(key));
      const next = step(current?.record);
      if (!next || next === current?.record) {
        if (current) remember(key, current);
        return;
      }
      try {
        const revision = current
          ? await kv.update(key, encodeRecord(next), current.revision)
          : await kv.create(key, encodeRecord(next));
        remember(key, { record: next, revision });
        return;
      } catch (error) {
        known.delete(key);
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new BeamlineError("BL_INTERNAL", `${what} projection kept losing races on ${key.slice(0, 8)}…`);
  };
}

/** True when a KV write failed its revision check: another writer got there first. */
export function isRevisionConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error).message);
}
