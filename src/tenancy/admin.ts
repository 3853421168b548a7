import { randomBytes } from "node:crypto";
import { type KV, Kvm } from "@nats-io/kv";
import type { ApiKeyState, TenantRecord } from "../../projections/index.js";
import {
  type ApiKeyRecord,
  decodeApiKeyRecord,
  decodeTenantRecord,
  keyStateAt,
} from "../../projections/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  apiKeyIdFilter,
  apiKeySubject,
  type BeamlineEvent,
  configSubject,
  type EventData,
  isEvent,
  isSafeToken,
  legacyApiKeySubject,
  makeEvent,
} from "../events/index.js";
import type { EventStore } from "../nats/index.js";
import { KvBuckets, StreamNames } from "../nats/index.js";
import type { QuotaLimits } from "../quotas/index.js";
import {
  type CreateTenantInput,
  type DisableTenantInput,
  type IssueKeyInput,
  type RotateKeyInput,
  resolveExpiry,
} from "./admin-inputs.js";
import { generateApiKey, hashApiKey, keyPrefix } from "./keys.js";

/** A tenant as the admin API and CLI show it. */
/** What erases a tenant's data key (the vault's `TenantKeys`); true when a key existed. */
export interface ContentKeyEraser {
  erase(tenant: string): Promise<boolean>;
}

/** The outcome of `eraseTenant`. */
export interface ErasedTenant {
  tenant: string;
  erasedAt: string;
  /** False when the tenant had no data key (it never stored sealed content, or was erased before). */
  keyDestroyed: boolean;
}

export interface TenantView {
  id: string;
  name: string;
  status: "active" | "disabled" | "erased";
  createdAt?: string;
  erasedAt?: string;
  statusChangedAt?: string;
  disabledReason?: string;
}

/** An API key as listings show it: never the key, never its hash. */
export interface KeyView {
  keyId: string;
  tenant: string;
  /** First characters of the key, to recognise it. */
  prefix: string;
  label?: string;
  createdAt?: string;
  expiresAt?: string;
  models?: string[];
  limits?: QuotaLimits;
  /** At the time of the listing (expiry and grace periods need no event). */
  status: ApiKeyState;
  revokedAt?: string;
  rotatedFrom?: string;
  replacedBy?: string;
}

/** A newly issued key: the only time the key itself is ever returned. */
export interface IssuedKey extends KeyView {
  key: string;
}

export interface RotatedKey {
  issued: IssuedKey;
  /** The old key, refused from `revokedAt` (now, or after the grace period). */
  replaced: KeyView;
}

const nonce = () => randomBytes(6).toString("hex");

/**
 * Operator actions on tenants and API keys. Every change is an event on `BL_CONFIG`; reads
 * come from the KV projections, which follow the events within milliseconds (a listing right
 * after a change may not show it yet). Key ids are derived from the key's hash, so the same
 * key is issued once however often a write is retried.
 */
export class TenancyAdmin {
  constructor(
    private readonly store: EventStore,
    private readonly tenantsKv: KV,
    private readonly keysKv: KV,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async createTenant(input: CreateTenantInput): Promise<TenantView> {
    const now = this.now();
    const name = input.name ?? input.id;
    const event = makeEvent(
      "tenant.created",
      `tenant.created:${input.id}`,
      { tenant: input.id, requestId: "", correlationId: `tenant:${input.id}` },
      { name },
      now,
    );
    // Write-once subject: a tenant id is created once, ever, and never reused.
    const result = await this.store.append(configSubject("tenant", input.id), event, { once: true });
    if (result.duplicate) {
      throw new BeamlineError("BL_TENANT_EXISTS", `A tenant with id ${input.id} already exists.`, {
        param: "id",
      });
    }
    return { id: input.id, name, status: "active", createdAt: now.toISOString() };
  }

  async listTenants(): Promise<TenantView[]> {
    const records = await readAll(this.tenantsKv, decodeTenantRecord);
    return records.map(tenantView).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The tenant's projected state; throws `BL_TENANT_NOT_FOUND` when it was never created. */
  async getTenant(tenant: string): Promise<TenantView> {
    await this.assertTenantExists(tenant);
    const entry = await this.tenantsKv.get(tenant);
    if (entry && entry.operation === "PUT") return tenantView(decodeTenantRecord(entry.value));
    return { id: tenant, name: tenant, status: "active" };
  }

  async disableTenant(tenant: string, input: DisableTenantInput = {}): Promise<TenantView> {
    await this.assertTenantExists(tenant);
    const data = input.reason !== undefined ? { reason: input.reason } : {};
    await this.appendTenantStatus(
      makeEvent(
        "tenant.disabled",
        `tenant.disabled:${tenant}:${nonce()}`,
        this.tenantContext(tenant),
        data,
        this.now(),
      ),
    );
    const view: TenantView = { ...(await this.getTenant(tenant)), status: "disabled" };
    if (input.reason !== undefined) view.disabledReason = input.reason;
    else delete view.disabledReason;
    return view;
  }

  async enableTenant(tenant: string): Promise<TenantView> {
    await this.assertTenantExists(tenant);
    await this.appendTenantStatus(
      makeEvent(
        "tenant.enabled",
        `tenant.enabled:${tenant}:${nonce()}`,
        this.tenantContext(tenant),
        {},
        this.now(),
      ),
    );
    const view = await this.getTenant(tenant);
    delete view.disabledReason;
    return { ...view, status: "active" };
  }

  /**
   * Crypto-shreds a tenant (docs/security.md): destroys its data key in `bl_tenant_keys`, then
   * records `tenant.erased`. Irreversible: the tenant's sealed content is unreadable from then
   * on, in the streams and in every backup of them; its usage and billing stay. Running it
   * again (after a failure between the two steps) records the event without a key to destroy.
   */
  async eraseTenant(
    tenant: string,
    keys: ContentKeyEraser,
    input: DisableTenantInput = {},
  ): Promise<ErasedTenant> {
    await this.assertTenantExists(tenant);
    const keyDestroyed = await keys.erase(tenant);
    const data: EventData<"tenant.erased"> = { keyDestroyed };
    if (input.reason !== undefined) data.reason = input.reason;
    const now = this.now();
    await this.store.append(
      configSubject("tenant", tenant),
      makeEvent("tenant.erased", `tenant.erased:${tenant}:${nonce()}`, this.tenantContext(tenant), data, now),
    );
    return { tenant, erasedAt: now.toISOString(), keyDestroyed };
  }

  /** Issues a key for an existing tenant. The returned `key` is the only copy there is. */
  async issueKey(
    tenant: string,
    input: IssueKeyInput,
    rotatedFrom?: BeamlineEvent<"apikey.issued">,
  ): Promise<IssuedKey> {
    await this.assertTenantExists(tenant);
    const now = this.now();
    const key = generateApiKey();
    const keyHash = hashApiKey(key);
    const keyId = `key_${keyHash.slice(0, 16)}`;
    const expiresAt = resolveExpiry(input, now);
    const data: BeamlineEvent<"apikey.issued">["data"] = { keyId, keyHash, keyPrefix: keyPrefix(key) };
    if (input.label !== undefined) data.label = input.label;
    if (expiresAt !== undefined) data.expiresAt = expiresAt;
    if (input.models !== undefined) data.models = input.models;
    if (input.limits !== undefined) data.limits = input.limits;
    const context = {
      tenant,
      requestId: "",
      correlationId: keyId,
      ...(rotatedFrom ? { causationId: rotatedFrom.id } : {}),
    };
    if (rotatedFrom) data.rotatedFrom = rotatedFrom.data.keyId;
    const event = makeEvent("apikey.issued", `apikey.issued:${keyId}`, context, data, now);
    await this.store.append(apiKeySubject(tenant, keyId), event, { once: true });
    return { key, ...keyViewOf(issuedRecord(event), now) };
  }

  /** Keys of one tenant (or of all), newest first. */
  async listKeys(tenant?: string): Promise<KeyView[]> {
    const now = this.now();
    const records = await readAll(this.keysKv, decodeApiKeyRecord);
    return records
      .filter((record) => tenant === undefined || record.tenant === tenant)
      .map((record) => keyViewOf(record, now))
      .sort((a, b) => (b.createdAt ?? "").localeCompare(a.createdAt ?? "") || a.keyId.localeCompare(b.keyId));
  }

  async getKey(keyId: string, tenant?: string): Promise<KeyView> {
    const { record } = await this.readKey(keyId, tenant);
    return keyViewOf(record, this.now());
  }

  /**
   * Issues a new key with the old one's label, model scope and limits, then revokes the old
   * one effective after `graceSeconds` (both as events; the revocation is caused by the issue).
   * Only an active key can be rotated, so a key has at most one replacement.
   */
  async rotateKey(keyId: string, input: RotateKeyInput, tenant?: string): Promise<RotatedKey> {
    const { issued, record } = await this.readKey(keyId, tenant);
    const now = this.now();
    const state = keyStateAt(record, now);
    if (state !== "active") {
      throw new BeamlineError(
        "BL_API_KEY_NOT_ACTIVE",
        `Key ${keyId} is ${state}; only an active key can be rotated. Issue a new key instead.`,
      );
    }
    const next: IssueKeyInput = {};
    if (record.label !== undefined) next.label = record.label;
    if (record.models !== undefined) next.models = record.models;
    if (record.limits !== undefined) next.limits = record.limits;
    if (input.expiresAt !== undefined) next.expiresAt = input.expiresAt;
    if (input.expiresInSeconds !== undefined) next.expiresInSeconds = input.expiresInSeconds;
    const fresh = await this.issueKey(record.tenant, next, issued);
    const effectiveAt = new Date(now.getTime() + input.graceSeconds * 1000).toISOString();
    const revoked = makeEvent(
      "apikey.revoked",
      `apikey.revoked:${keyId}:${nonce()}`,
      {
        tenant: record.tenant,
        requestId: "",
        correlationId: fresh.keyId,
        causationId: `apikey.issued:${fresh.keyId}`,
      },
      { keyId, keyHash: issued.data.keyHash, effectiveAt, reason: "rotated", replacedBy: fresh.keyId },
      now,
    );
    await this.store.append(apiKeySubject(record.tenant, keyId), revoked);
    const replaced = {
      ...record,
      status: "revoked" as const,
      revokedAt: earliest(record.revokedAt, effectiveAt),
      replacedBy: fresh.keyId,
    };
    return { issued: fresh, replaced: keyViewOf(replaced, now) };
  }

  /** Revokes a key at once (also ends a rotation's grace period). Revoking twice changes nothing. */
  async revokeKey(keyId: string, tenant?: string): Promise<KeyView> {
    const { issued, record } = await this.readKey(keyId, tenant);
    const now = this.now();
    if (keyStateAt(record, now) === "revoked") return keyViewOf(record, now);
    const revoked = makeEvent(
      "apikey.revoked",
      `apikey.revoked:${keyId}:${nonce()}`,
      { tenant: record.tenant, requestId: "", correlationId: keyId },
      { keyId, keyHash: issued.data.keyHash, effectiveAt: now.toISOString(), reason: "revoked" },
      now,
    );
    await this.store.append(apiKeySubject(record.tenant, keyId), revoked);
    return keyViewOf({ ...record, status: "revoked", revokedAt: now.toISOString() }, now);
  }

  /**
   * The key's issue event (from the log: always there once written) and its projected record
   * (from KV; right after the issue it may not be projected yet, then the issue event stands in).
   */
  private async readKey(
    keyId: string,
    tenant?: string,
  ): Promise<{ issued: BeamlineEvent<"apikey.issued">; record: ApiKeyRecord }> {
    const notFound = () =>
      new BeamlineError(
        "BL_API_KEY_NOT_FOUND",
        `No API key with id ${keyId}${tenant ? ` for tenant ${tenant}` : ""}.`,
      );
    if (!isSafeToken(keyId)) throw notFound();
    const issued = await readIssued(this.store, keyId);
    if (!issued || !isEvent(issued, "apikey.issued")) throw notFound();
    if (tenant !== undefined && issued.tenant !== tenant) throw notFound();
    const entry = await this.keysKv.get(issued.data.keyHash);
    const record =
      entry && entry.operation === "PUT" ? decodeApiKeyRecord(entry.value) : issuedRecord(issued);
    return { issued, record };
  }

  private async assertTenantExists(tenant: string): Promise<void> {
    if (
      !isSafeToken(tenant) ||
      !(await this.store.readLast(StreamNames.config, configSubject("tenant", tenant), { fromLeader: true }))
    ) {
      throw new BeamlineError("BL_TENANT_NOT_FOUND", `No tenant with id ${tenant}; create it first.`);
    }
  }

  private tenantContext(tenant: string) {
    return { tenant, requestId: "", correlationId: `tenant:${tenant}` };
  }

  private async appendTenantStatus(
    event: BeamlineEvent<"tenant.disabled" | "tenant.enabled">,
  ): Promise<void> {
    await this.store.append(configSubject("tenant", event.tenant), event);
  }
}

/** Opens the KV buckets the admin reads; the streams and buckets must have been applied. */
export async function openTenancyAdmin(store: EventStore, now?: () => Date): Promise<TenancyAdmin> {
  const kvm = new Kvm(store.nc);
  const [tenantsKv, keysKv] = await Promise.all([kvm.open(KvBuckets.tenants), kvm.open(KvBuckets.apiKeys)]);
  return new TenancyAdmin(store, tenantsKv, keysKv, now);
}

async function readAll<R>(kv: KV, decode: (value: Uint8Array) => R): Promise<R[]> {
  const records: R[] = [];
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry && entry.operation === "PUT") records.push(decode(entry.value));
  }
  return records;
}

/**
 * A key's issue event, the first event of its key id. A key issued before API key events were
 * tenant-scoped has it on the legacy subject (its later revocations may be on the new one), so
 * the legacy subject is asked first; otherwise the first match of `bl.cfg.apikey.*.<keyId>`.
 */
async function readIssued(store: EventStore, keyId: string): Promise<BeamlineEvent | undefined> {
  return (
    (await store.readFirst(StreamNames.config, legacyApiKeySubject(keyId), { fromLeader: true })) ??
    (await store.readFirst(StreamNames.config, apiKeyIdFilter(keyId), { fromLeader: true }))
  );
}

function earliest(a: string | undefined, b: string): string {
  return a !== undefined && Date.parse(a) <= Date.parse(b) ? a : b;
}

function issuedRecord(event: BeamlineEvent<"apikey.issued">): ApiKeyRecord {
  const { data } = event;
  const record: ApiKeyRecord = {
    keyId: data.keyId,
    tenant: event.tenant,
    keyPrefix: data.keyPrefix,
    status: "active",
    issuedAt: event.time,
    lastSequence: 0,
  };
  if (data.label !== undefined) record.label = data.label;
  if (data.expiresAt !== undefined) record.expiresAt = data.expiresAt;
  if (data.models !== undefined) record.models = data.models;
  if (data.limits !== undefined) record.limits = data.limits;
  if (data.rotatedFrom !== undefined) record.rotatedFrom = data.rotatedFrom;
  return record;
}

function tenantView(record: TenantRecord): TenantView {
  const view: TenantView = { id: record.tenant, name: record.name || record.tenant, status: record.status };
  if (record.createdAt !== undefined) view.createdAt = record.createdAt;
  if (record.statusChangedAt !== undefined) view.statusChangedAt = record.statusChangedAt;
  if (record.disabledReason !== undefined) view.disabledReason = record.disabledReason;
  if (record.erasedAt !== undefined) view.erasedAt = record.erasedAt;
  return view;
}

/** The listing form of a key record at `now`. */
export function keyViewOf(record: ApiKeyRecord, now: Date): KeyView {
  const view: KeyView = {
    keyId: record.keyId,
    tenant: record.tenant,
    prefix: record.keyPrefix,
    status: keyStateAt(record, now),
  };
  if (record.label !== undefined) view.label = record.label;
  if (record.issuedAt !== undefined) view.createdAt = record.issuedAt;
  if (record.expiresAt !== undefined) view.expiresAt = record.expiresAt;
  if (record.models !== undefined) view.models = record.models;
  if (record.limits !== undefined) view.limits = record.limits;
  if (record.revokedAt !== undefined) view.revokedAt = record.revokedAt;
  if (record.rotatedFrom !== undefined) view.rotatedFrom = record.rotatedFrom;
  if (record.replacedBy !== undefined) view.replacedBy = record.replacedBy;
  return view;
}
