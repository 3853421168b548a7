import type { NatsConnection } from "@nats-io/transport-node";
import { CATALOG_KV_KEY, type CatalogRecord } from "../../projections/index.js";
import { type ModelCatalog, parseCatalog, withProviders } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import { configSubject, isEvent, makeEvent } from "../events/index.js";
import type { EventStore } from "../nats/index.js";
import {
  appendNextVersion,
  contentDigest,
  jsonValue,
  KvBuckets,
  readLastWithSequence,
  StreamNames,
  watchKvView,
} from "../nats/index.js";
import type { Logger } from "../observability/index.js";

/** Subject of catalog events: `bl.cfg.catalog.global`. */
export const CATALOG_SUBJECT = configSubject("catalog", "global");
/** Envelope tenant of catalog events: the catalog belongs to the deployment, not to a tenant. */
export const CATALOG_EVENT_TENANT = "_system";

export interface PublishedCatalog {
  /** Publication counter: 1 for the first catalog, +1 per publish. */
  revision: number;
  catalog: ModelCatalog;
  /** True when this very document had already been published (a retried publish). */
  duplicate: boolean;
}

/**
 * Validates and publishes a catalog document as `catalog.published`. The document's `version`
 * must differ from the current one's: a version names one price list forever, because usage
 * records and decisions refer to it. Throws `BL_CATALOG_INVALID` for an invalid document or a reused version.
 */
export async function publishCatalog(
  store: EventStore,
  document: unknown,
  now: Date,
): Promise<PublishedCatalog> {
  let catalog: ModelCatalog;
  try {
    catalog = parseCatalog(document);
  } catch (error) {
    // At start-up an invalid catalog file is a configuration error; here it is a bad publish request.
    throw new BeamlineError("BL_CATALOG_INVALID", (error as Error).message, { cause: error });
  }
  const digest = contentDigest(catalog.document);
  const result = await appendNextVersion(store, StreamNames.config, CATALOG_SUBJECT, (last) => {
    const previous = last && isEvent(last, "catalog.published") ? last.data : undefined;
    if (
      previous &&
      previous.catalog.version === catalog.version &&
      contentDigest(previous.catalog) !== digest
    ) {
      throw new BeamlineError(
        "BL_CATALOG_INVALID",
        `catalog version ${catalog.version} is already published with other contents; give the new catalog a new version`,
      );
    }
    const revision = (previous?.revision ?? 0) + 1;
    const event = makeEvent(
      "catalog.published",
      `catalog.published:${catalog.version}:${digest}`,
      { tenant: CATALOG_EVENT_TENANT, requestId: "", correlationId: `catalog:${catalog.version}` },
      { revision, catalog: catalog.document },
      now,
    );
    return { version: revision, event };
  });
  return { revision: result.version, catalog, duplicate: result.duplicate };
}

/**
 * Publishes `seed` (normally config/catalog.json) when no catalog was ever published, and does
 * nothing otherwise. Safe from several processes starting at once: only the first write to the
 * empty subject succeeds.
 */
export async function seedCatalogIfEmpty(store: EventStore, seed: ModelCatalog, now: Date): Promise<boolean> {
  const last = await readLastWithSequence(store, StreamNames.config, CATALOG_SUBJECT);
  if (last) return false;
  try {
    await publishCatalog(store, seed.document, now);
    return true;
  } catch (error) {
    if (error instanceof BeamlineError && error.code === "BL_CATALOG_INVALID") return false;
    throw error;
  }
}

/** The catalog as last published, straight from the config stream (for the CLI and admin API). */
export async function readPublishedCatalog(
  store: EventStore,
): Promise<{ revision: number; catalog: ModelCatalog; publishedAt: string } | undefined> {
  const last = await readLastWithSequence(store, StreamNames.config, CATALOG_SUBJECT);
  if (!last || !isEvent(last.event, "catalog.published")) return undefined;
  return {
    revision: last.event.data.revision,
    catalog: parseCatalog(last.event.data.catalog),
    publishedAt: last.event.time,
  };
}

/** What workers read the catalog from. */
export interface CatalogView {
  /** The latest published catalog, or the fallback until one is projected. */
  current(): ModelCatalog;
  /** Publication revision of {@link current}; 0 while the fallback is in use. */
  revision(): number;
  readonly ready: Promise<void>;
  stop(): void;
}

/**
 * Watches KV `bl_catalog`: a published catalog applies on every instance within the watch
 * delay. `fallback` (the seed file) serves until the first catalog is projected. With
 * `providers`, the view holds only models of those providers (the ones this instance can
 * reach), filtered once per publication rather than per request.
 */
export async function watchCatalog(
  nc: NatsConnection,
  log: Logger,
  fallback: ModelCatalog,
  providers?: ReadonlySet<string>,
): Promise<CatalogView> {
  const reachable = (catalog: ModelCatalog) => (providers ? withProviders(catalog, providers) : catalog);
  const fallbackView = reachable(fallback);
  const view = await watchKvView(nc, KvBuckets.catalog, {
    decode: jsonValue((value) => {
      const record = value as CatalogRecord;
      return { revision: record.revision, catalog: reachable(parseCatalog(record.catalog)) };
    }),
    log,
  });
  return {
    current: () => view.get(CATALOG_KV_KEY)?.catalog ?? fallbackView,
    revision: () => view.get(CATALOG_KV_KEY)?.revision ?? 0,
    ready: view.ready,
    stop: view.stop,
  };
}
