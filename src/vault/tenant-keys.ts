import { randomBytes } from "node:crypto";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { KvBuckets } from "../nats/index.js";
import { KEY_BYTES } from "./cipher.js";
import type { KeyProvider } from "./key-provider.js";

/** One tenant's entry in `bl_tenant_keys`: its wrapped data key, or the mark that it was erased. */
const keyRecordSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("active"),
    /** The data key wrapped by the key provider, base64. */
    wrapped: z.string(),
    /** The key provider's id that wrapped it. */
    wrappedBy: z.string(),
    createdAt: z.string(),
  }),
  z.object({ state: z.literal("erased"), erasedAt: z.string() }),
]);
type KeyRecord = z.infer<typeof keyRecordSchema>;

/** A tenant's data key, unwrapped, and the bucket revision that created it. */
export interface DataKey {
  key: Uint8Array;
  revision: number;
}

export interface TenantKeysOptions {
  /** Unwrapped keys kept in memory at most; the least recently fetched goes first. */
  cacheMaxEntries: number;
  /** How long an unwrapped key (or an erasure) is trusted before the bucket is read again, ms. */
  cacheTtlMs: number;
  now?: () => number;
}

interface Cached {
  value: DataKey | "erased";
  expiresAt: number;
}

/**
 * Tenants' data keys: one per tenant in KV `bl_tenant_keys`, wrapped by the key provider,
 * created on first use with an atomic KV create (two instances racing agree on the winner's
 * key). Unwrapped keys are cached, bounded in count and time: an erasure reaches other
 * processes within `cacheTtlMs`.
 */
export class TenantKeys {
  private readonly cache = new Map<string, Cached>();
  private readonly now: () => number;

  private constructor(
    private readonly kv: KV,
    private readonly provider: KeyProvider | undefined,
    private readonly options: TenantKeysOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  static async open(
    nc: NatsConnection,
    provider: KeyProvider | undefined,
    options: TenantKeysOptions,
  ): Promise<TenantKeys> {
    return new TenantKeys(await new Kvm(nc).open(KvBuckets.tenantKeys), provider, options);
  }

  /** Whether this process holds a key provider (it can seal and open content). */
  get canSeal(): boolean {
    return this.provider !== undefined;
  }

  /**
   * The tenant's data key for sealing, created when it has none. Throws `BL_TENANT_ERASED`
   * for an erased tenant (it takes no new content) and `BL_MASTER_KEY_INVALID` with no provider.
   */
  async forSealing(tenant: string): Promise<DataKey> {
    const found = await this.lookup(tenant);
    if (found === "erased") {
      throw new BeamlineError("BL_TENANT_ERASED", `tenant ${tenant} was erased; it takes no new content`);
    }
    if (found) return found;
    const provider = this.requireProvider();
    const key = randomBytes(KEY_BYTES);
    const record: KeyRecord = {
      state: "active",
      wrapped: Buffer.from(await provider.wrap(key, tenant)).toString("base64"),
      wrappedBy: provider.keyId,
      createdAt: new Date(this.now()).toISOString(),
    };
    try {
      const revision = await this.kv.create(tenant, JSON.stringify(record));
      return this.remember(tenant, { key, revision });
    } catch (error) {
      // Another instance created it first: use theirs (read back below), never two keys.
      const again = await this.lookup(tenant, true);
      if (again === "erased") {
        throw new BeamlineError("BL_TENANT_ERASED", `tenant ${tenant} was erased; it takes no new content`);
      }
      if (again) return again;
      throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not store the data key of ${tenant}`, {
        cause: error,
      });
    }
  }

  /**
   * The tenant's data key for opening, `"erased"`, or undefined when it has none or no key
   * provider is here (an erasure is reported either way: it needs no master key to see).
   */
  async forOpening(tenant: string): Promise<DataKey | "erased" | undefined> {
    return this.lookup(tenant);
  }

  /**
   * Crypto-shreds the tenant: purges its key (the purge drops every earlier revision, so no
   * old revision holds the wrapped key) and leaves an `erased` mark that refuses a new one.
   * Returns whether a key existed.
   */
  async erase(tenant: string): Promise<boolean> {
    const entry = await this.kv.get(tenant);
    const existed = entry?.operation === "PUT" && parseRecord(entry.string()).state === "active";
    await this.kv.purge(tenant);
    const mark: KeyRecord = { state: "erased", erasedAt: new Date(this.now()).toISOString() };
    await this.kv.put(tenant, JSON.stringify(mark));
    this.cache.set(tenant, { value: "erased", expiresAt: Number.POSITIVE_INFINITY });
    return existed;
  }

  private requireProvider(): KeyProvider {
    if (!this.provider) {
      throw new BeamlineError(
        "BL_MASTER_KEY_INVALID",
        "no master key here: set BEAMLINE_MASTER_KEY or BEAMLINE_MASTER_KEY_FILE to seal or open content",
      );
    }
    return this.provider;
  }

  private async lookup(tenant: string, fresh = false): Promise<DataKey | "erased" | undefined> {
    const cached = this.cache.get(tenant);
    if (!fresh && cached && cached.expiresAt > this.now()) return cached.value;
    const entry = await this.kv.get(tenant);
    if (entry?.operation !== "PUT") return undefined;
    const record = parseRecord(entry.string());
    if (record.state === "erased") {
      this.remember(tenant, "erased");
      return "erased";
    }
    if (!this.provider) return undefined;
    const key = await this.provider.unwrap(Buffer.from(record.wrapped, "base64"), tenant);
    return this.remember(tenant, { key, revision: entry.revision });
  }

  private remember<V extends DataKey | "erased">(tenant: string, value: V): V {
    this.cache.delete(tenant);
    this.cache.set(tenant, { value, expiresAt: this.now() + this.options.cacheTtlMs });
    while (this.cache.size > this.options.cacheMaxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return value;
  }
}

function parseRecord(text: string): KeyRecord {
  const parsed = keyRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new BeamlineError(
      "BL_MASTER_KEY_INVALID",
      `a tenant key record is malformed: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}
