import { randomBytes } from "node:crypto";
import { type KV, Kvm } from "@nats-io/kv";
import type { ProducerRecord } from "../../projections/index.js";
import { decodeProducerRecord } from "../../projections/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  configSubject,
  ingressSubject,
  isEvent,
  isSafeToken,
  liveInboxPrefix,
  makeEvent,
  producerIdFilter,
  producerSubject,
  tenantUsageFilter,
} from "../events/index.js";
import type { EventStore } from "../nats/index.js";
import { KvBuckets, StreamNames } from "../nats/index.js";
import type { QuotaLimits } from "../quotas/index.js";
import { type IssueProducerInput, issueProducerInputSchema, parseAdminInput } from "./admin-inputs.js";

/** A producer credential as listings show it. */
export interface ProducerView {
  producerId: string;
  tenant: string;
  status: "active" | "revoked";
  label?: string;
  createdAt?: string;
  revokedAt?: string;
  models?: string[];
  limits?: QuotaLimits;
  readUsage: boolean;
}

/**
 * The NATS subjects a producer's credential is granted: what a minter turns into NATS
 * permissions. Publishing anywhere else is the server's to refuse; the ingress checks the rest.
 */
export interface ProducerGrant {
  producerId: string;
  tenant: string;
  /** `bl.in.<tenant>.<producerId>.*`: one token more, the request id. */
  publish: string[];
  /** `bl.live.<producerId>.>` (its replies), plus `bl.usage.<tenant>.>` with `readUsage`. */
  subscribe: string[];
}

/**
 * What a producer needs to connect to NATS as itself (e.g. `{ creds }`, a NATS credentials
 * file's text), as the deployment's minter returns it. Shown once, like an API key.
 */
export type ProducerCredentials = Readonly<Record<string, string>>;

/** Mints NATS credentials for a grant. Given only when NATS auth is on. */
export type ProducerCredentialMinter = (grant: ProducerGrant) => Promise<ProducerCredentials>;

/** A newly issued producer; `credentials` is present when a minter was given, and shown only now. */
export interface IssuedProducer extends ProducerView {
  grant: ProducerGrant;
  credentials?: ProducerCredentials;
}

/** Producer ids: `pr-` and 16 hex digits (64 random bits), a subject token. */
export function newProducerId(): string {
  return `pr-${randomBytes(8).toString("hex")}`;
}

/** The subjects a producer may publish and subscribe to (see {@link ProducerGrant}). */
export function producerGrant(tenant: string, producerId: string, readUsage: boolean): ProducerGrant {
  return {
    producerId,
    tenant,
    publish: [ingressSubject(tenant, producerId, "*")],
    subscribe: [`${liveInboxPrefix(producerId)}>`, ...(readUsage ? [tenantUsageFilter(tenant)] : [])],
  };
}

/** What {@link issueProducer} writes with and reads the time from. */
export interface IssueProducerDeps {
  /** Signs what it writes: projectors count only signed producer events. */
  store: EventStore;
  now: Date;
  /**
   * Mints the producer's NATS credentials. Absent while NATS runs without auth: the producer
   * is then identified by its subject only, and the result has no `credentials`. The NATS auth
   * work wires its minter in here (the deployment's operator/account signing keys).
   */
  mintCredentials?: ProducerCredentialMinter | undefined;
}

/**
 * Issues a producer credential for an existing tenant: records `producer.issued` on
 * `bl.cfg.producer.<tenant>.<producerId>` (write-once, signed), then, when a minter is given,
 * mints the NATS credentials that let it publish only on its own ingress subjects. The event
 * is written first so a credential never exists for a producer the ingress does not know.
 * Returns the producer's id, view and grant, and the credentials (shown only now).
 * Throws `BL_TENANT_NOT_FOUND`, `BL_BAD_REQUEST`.
 */
export async function issueProducer(
  deps: IssueProducerDeps,
  tenant: string,
  input: IssueProducerInput,
): Promise<IssuedProducer> {
  const parsed = parseAdminInput(issueProducerInputSchema, input);
  await assertTenantExists(deps.store, tenant);
  const producerId = newProducerId();
  const data: BeamlineEvent<"producer.issued">["data"] = { producerId, readUsage: parsed.readUsage };
  if (parsed.label !== undefined) data.label = parsed.label;
  if (parsed.models !== undefined) data.models = parsed.models;
  if (parsed.limits !== undefined) data.limits = parsed.limits;
  const event = makeEvent(
    "producer.issued",
    `producer.issued:${producerId}`,
    { tenant, requestId: "", correlationId: producerId },
    data,
    deps.now,
  );
  await deps.store.append(producerSubject(tenant, producerId), event, { once: true });
  const grant = producerGrant(tenant, producerId, parsed.readUsage);
  const issued: IssuedProducer = { ...producerViewOf(issuedRecord(event)), grant };
  if (deps.mintCredentials) issued.credentials = await deps.mintCredentials(grant);
  return issued;
}

/**
 * Listing and revoking producers. Reads come from the KV projection (a listing right after a
 * change may not show it yet); revocations are events, refused by every ingress as soon as its
 * watched view has them (well under a second).
 */
export class ProducerAdmin {
  constructor(
    private readonly store: EventStore,
    private readonly producersKv: KV,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** See {@link issueProducer}. */
  issue(
    tenant: string,
    input: IssueProducerInput,
    mintCredentials?: ProducerCredentialMinter,
  ): Promise<IssuedProducer> {
    return issueProducer({ store: this.store, now: this.now(), mintCredentials }, tenant, input);
  }

  /** Producers of one tenant (or of all), newest first. */
  async list(tenant?: string): Promise<ProducerView[]> {
    const views: ProducerView[] = [];
    for await (const key of await this.producersKv.keys()) {
      const entry = await this.producersKv.get(key);
      if (entry?.operation !== "PUT") continue;
      const record = decodeProducerRecord(entry.value);
      if (tenant === undefined || record.tenant === tenant) views.push(producerViewOf(record));
    }
    return views.sort(
      (a, b) =>
        (b.createdAt ?? "").localeCompare(a.createdAt ?? "") || a.producerId.localeCompare(b.producerId),
    );
  }

  /** Revokes a producer at once. Revoking twice changes nothing. Throws `BL_PRODUCER_NOT_FOUND`. */
  async revoke(producerId: string, tenant?: string): Promise<ProducerView> {
    const issued = await this.readIssued(producerId, tenant);
    const entry = await this.producersKv.get(producerId);
    const record =
      entry && entry.operation === "PUT" ? decodeProducerRecord(entry.value) : issuedRecord(issued);
    if (record.status === "revoked") return producerViewOf(record);
    const now = this.now();
    const revoked = makeEvent(
      "producer.revoked",
      `producer.revoked:${producerId}`,
      { tenant: issued.tenant, requestId: "", correlationId: producerId },
      { producerId },
      now,
    );
    await this.store.append(producerSubject(issued.tenant, producerId), revoked);
    return producerViewOf({ ...record, status: "revoked", revokedAt: now.toISOString() });
  }

  private async readIssued(producerId: string, tenant?: string): Promise<BeamlineEvent<"producer.issued">> {
    const notFound = new BeamlineError(
      "BL_PRODUCER_NOT_FOUND",
      `No producer with id ${producerId}${tenant ? ` for tenant ${tenant}` : ""}.`,
    );
    if (!isSafeToken(producerId)) throw notFound;
    const first = await this.store.readFirst(StreamNames.config, producerIdFilter(producerId));
    if (!first || !isEvent(first, "producer.issued")) throw notFound;
    if (tenant !== undefined && first.tenant !== tenant) throw notFound;
    return first;
  }
}

/** Opens the producer projection the admin reads; the streams and buckets must have been applied. */
export async function openProducerAdmin(store: EventStore, now?: () => Date): Promise<ProducerAdmin> {
  return new ProducerAdmin(store, await new Kvm(store.nc).open(KvBuckets.producers), now);
}

async function assertTenantExists(store: EventStore, tenant: string): Promise<void> {
  const subject = configSubject("tenant", tenant);
  // From the leader: a tenant created a moment ago may not be on a lagging replica yet.
  if (!isSafeToken(tenant) || !(await store.readLast(StreamNames.config, subject, { fromLeader: true }))) {
    throw new BeamlineError("BL_TENANT_NOT_FOUND", `No tenant with id ${tenant}; create it first.`);
  }
}

function issuedRecord(event: BeamlineEvent<"producer.issued">): ProducerRecord {
  const { data } = event;
  const record: ProducerRecord = {
    producerId: data.producerId,
    tenant: event.tenant,
    status: "active",
    issuedAt: event.time,
    readUsage: data.readUsage,
    lastSequence: 0,
  };
  if (data.label !== undefined) record.label = data.label;
  if (data.models !== undefined) record.models = data.models;
  if (data.limits !== undefined) record.limits = data.limits;
  return record;
}

/** The listing form of a producer record. */
export function producerViewOf(record: ProducerRecord): ProducerView {
  const view: ProducerView = {
    producerId: record.producerId,
    tenant: record.tenant,
    status: record.status,
    readUsage: record.readUsage,
  };
  if (record.label !== undefined) view.label = record.label;
  if (record.issuedAt !== undefined) view.createdAt = record.issuedAt;
  if (record.revokedAt !== undefined) view.revokedAt = record.revokedAt;
  if (record.models !== undefined) view.models = record.models;
  if (record.limits !== undefined) view.limits = record.limits;
  return view;
}
