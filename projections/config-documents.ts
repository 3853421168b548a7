import type { CatalogDocument } from "../src/catalog/index.js";
import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import type { PolicyDocument } from "../src/routing/index.js";

/** The projected current policy of one tenant, stored in KV under the tenant id. */
export interface PolicyRecord {
  tenant: string;
  version: number;
  policy: PolicyDocument;
  publishedAt: string;
}

/** The projected current model catalog, stored in KV under {@link CATALOG_KV_KEY}. */
export interface CatalogRecord {
  /** Publication counter: 1 for the seed, +1 per publish. */
  revision: number;
  catalog: CatalogDocument;
  publishedAt: string;
}

/** The one key of the catalog bucket. */
export const CATALOG_KV_KEY = "latest";

/**
 * Pure reducer of `policy.updated`: keeps the highest version. Versions are assigned in
 * publish order under a subject-sequence check, so "highest wins" is also "latest wins", and
 * replaying or redelivering any event leaves the record unchanged.
 */
export function reducePolicy(
  record: PolicyRecord | undefined,
  event: BeamlineEvent,
): PolicyRecord | undefined {
  if (!isEvent(event, "policy.updated")) return record;
  if (record && record.version >= event.data.version) return record;
  return {
    tenant: event.tenant,
    version: event.data.version,
    policy: event.data.policy,
    publishedAt: event.time,
  };
}

/** Pure reducer of `catalog.published`: keeps the highest revision, for the same reasons. */
export function reduceCatalog(
  record: CatalogRecord | undefined,
  event: BeamlineEvent,
): CatalogRecord | undefined {
  if (!isEvent(event, "catalog.published")) return record;
  if (record && record.revision >= event.data.revision) return record;
  return { revision: event.data.revision, catalog: event.data.catalog, publishedAt: event.time };
}
