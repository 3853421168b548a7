import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { type CacheEntry, cacheEntrySchema } from "../cache/index.js";
import { KvBuckets } from "../nats/index.js";
import { open, seal, type TenantKeys } from "../vault/index.js";

/** Where the worker keeps answers for the exact response cache (docs/caching.md). */
export interface ResponseCache {
  /** The answer stored under `key` for `tenant`, or undefined (none, expired, or unreadable). */
  get(tenant: string, key: string): Promise<{ entry: CacheEntry; bytes: number } | undefined>;
  /** Stores an answer for `ttlSeconds`, replacing any earlier one; returns the bytes stored. */
  put(tenant: string, key: string, entry: CacheEntry, ttlSeconds: number): Promise<number>;
}

/** A stored value: the entry sealed with the tenant's data key, or in the clear when sealing is off. */
const storedSchema = z.union([
  z.object({ keyRevision: z.number().int(), nonce: z.string(), ciphertext: z.string() }),
  z.object({ clear: z.unknown() }),
]);

/**
 * The response cache in KV `bl_cache`: one entry per `<tenant>.<key>`, so a tenant's entries
 * are one subject filter (erasure purges them) and no key of one tenant can name another's.
 * Each entry carries its own TTL (a `Nats-TTL` header; the bucket allows per-message TTLs), so
 * tenants with different `ttlSeconds` share one bucket. Entries are sealed with the tenant's
 * data key, bound to their KV key, so an entry copied under another tenant or key cannot be
 * opened.
 */
export class KvResponseCache implements ResponseCache {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly keys: TenantKeys | undefined,
  ) {}

  /** Opens the bucket; `keys` undefined means content sealing is off (entries are kept in the clear). */
  static async open(nc: NatsConnection, keys: TenantKeys | undefined): Promise<KvResponseCache> {
    return new KvResponseCache(nc, await new Kvm(nc).open(KvBuckets.responseCache), keys);
  }

  async get(tenant: string, key: string): Promise<{ entry: CacheEntry; bytes: number } | undefined> {
    const name = entryName(tenant, key);
    const found = await this.kv.get(name);
    if (found?.operation !== "PUT" || found.value.length === 0) return undefined;
    const stored = storedSchema.safeParse(found.json());
    if (!stored.success) return undefined;
    let plain: unknown;
    if ("clear" in stored.data) {
      if (this.keys) return undefined; // sealing is on: a clear entry was not written by us
      plain = stored.data.clear;
    } else {
      if (!this.keys) return undefined;
      const dataKey = await this.keys.forOpening(tenant);
      // Erased, or another revision of the key: the entry can never be opened again.
      if (dataKey === undefined || dataKey === "erased" || dataKey.revision !== stored.data.keyRevision)
        return undefined;
      const bytes = open(
        dataKey.key,
        {
          nonce: Buffer.from(stored.data.nonce, "base64"),
          ciphertext: Buffer.from(stored.data.ciphertext, "base64"),
        },
        aadOf(name),
        `cache entry ${name}`,
      );
      plain = JSON.parse(Buffer.from(bytes).toString("utf8"));
    }
    const entry = cacheEntrySchema.safeParse(plain);
    return entry.success ? { entry: entry.data, bytes: found.value.length } : undefined;
  }

  async put(tenant: string, key: string, entry: CacheEntry, ttlSeconds: number): Promise<number> {
    const name = entryName(tenant, key);
    let value: unknown;
    if (this.keys) {
      const dataKey = await this.keys.forSealing(tenant);
      const sealed = seal(dataKey.key, Buffer.from(JSON.stringify(entry)), aadOf(name));
      value = {
        keyRevision: dataKey.revision,
        nonce: Buffer.from(sealed.nonce).toString("base64"),
        ciphertext: Buffer.from(sealed.ciphertext).toString("base64"),
      };
    } else {
      value = { clear: entry };
    }
    const bytes = Buffer.from(JSON.stringify(value));
    // A plain put has no TTL in the KV client; the KV's own subject with a TTL header is the same write.
    await jetstream(this.nc).publish(`$KV.${KvBuckets.responseCache}.${name}`, bytes, {
      ttl: `${ttlSeconds}s`,
    });
    return bytes.length;
  }
}

/**
 * Opens the response cache for a worker, or undefined (logged) when the bucket is not there:
 * a topology applied before the cache existed; `beamline streams apply` adds it.
 */
export async function openResponseCache(
  nc: NatsConnection,
  keys: TenantKeys | undefined,
  log: { warn(obj: object, msg: string): void },
): Promise<ResponseCache | undefined> {
  try {
    return await KvResponseCache.open(nc, keys);
  } catch (error) {
    log.warn({ err: error }, "the response cache bucket is missing: requests are not cached");
    return undefined;
  }
}

/**
 * Removes every cached answer of a tenant (`beamline tenants erase`); they are unreadable once
 * its key is destroyed anyway, this frees the space at once. Needs the admin identity.
 */
export async function purgeTenantCache(nc: NatsConnection, tenant: string): Promise<number> {
  const jsm = await jetstream(nc).jetstreamManager();
  try {
    const result = await jsm.streams.purge(`KV_${KvBuckets.responseCache}`, {
      filter: `$KV.${KvBuckets.responseCache}.${tenant}.>`,
    });
    return result.purged;
  } catch (error) {
    // A deployment that never applied the cache bucket has nothing to purge.
    if (error instanceof Error && /stream not found/i.test(error.message)) return 0;
    throw error;
  }
}

function entryName(tenant: string, key: string): string {
  return `${tenant}.${key}`;
}

function aadOf(name: string): Uint8Array {
  return Buffer.from(`${KvBuckets.responseCache}:${name}`);
}
