/**
 * Names of Beamline's streams, durable consumers and KV buckets: plain constants, so a module
 * that only needs a name does not pull in the JetStream client. Their configuration is in
 * streams/definitions.ts.
 */

/** JetStream streams. */
export const StreamNames = {
  requests: "BL_REQUESTS",
  usage: "BL_USAGE",
  config: "BL_CONFIG",
  deadLetter: "BL_DEAD",
  quota: "BL_QUOTA",
  health: "BL_HEALTH",
  /** The notary's signed checkpoints of every other stream (docs/audit.md). */
  audit: "BL_AUDIT",
  /**
   * Producers' requests before Beamline checked them (`bl.in.<tenant>.<producerId>.<requestId>`),
   * work-queue: the ingress stage removes each once it wrote the canonical request.accepted.
   */
  ingress: "BL_INGRESS",
} as const;

/** Durable consumers (pull, explicit ack). */
export const ConsumerNames = {
  worker: "worker",
  billing: "billing",
  apiKeysProjector: "projector-apikeys",
  quotaProjector: "projector-quotas",
  healthProjector: "projector-health",
  tenantsProjector: "projector-tenants",
  configDocumentsProjector: "projector-config-documents",
  spendProjector: "projector-spend",
  producersProjector: "projector-producers",
  /** The ingress stage (worker role): BL_INGRESS → checked request.accepted in BL_REQUESTS. */
  ingress: "ingress",
} as const;

/** KV buckets (projections and config views). */
export const KvBuckets = {
  apiKeys: "bl_apikeys",
  quota: "bl_quota",
  health: "bl_health",
  tenants: "bl_tenants",
  policies: "bl_policies",
  catalog: "bl_catalog",
  extensions: "bl_extensions",
  spend: "bl_spend",
  /** Producer credentials (projection of producer.* in BL_CONFIG): producer id → tenant, scope, status. */
  producers: "bl_producers",
  /** Tenant id → its data key wrapped by the master key, or the mark that it was erased. */
  tenantKeys: "bl_tenant_keys",
  /** The response cache: `<tenant>.<key>` → an answer sealed with the tenant's key, with a per-entry TTL. */
  responseCache: "bl_cache",
} as const;
