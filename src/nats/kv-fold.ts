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
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
    }
  }
  throw new BeamlineError("BL_INTERNAL", `${what} projection kept losing races on ${key.slice(0, 8)}…`);
}
