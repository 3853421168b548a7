import type { NatsConnection } from "@nats-io/transport-node";
import { type ModelCatalog, parseCatalog } from "../catalog/index.js";
import { isEvent } from "../events/index.js";
import { readEvents, StreamNames } from "../nats/index.js";
import { CATALOG_SUBJECT } from "./catalog-store.js";

/**
 * Catalogs by version, for pricing: a request is billed with the catalog it was routed with,
 * even after a newer one was published. Versions are looked up in the config stream's
 * `catalog.published` history once each and kept (a version never changes contents), so
 * billing costs one read per catalog version, not per request.
 */
export function catalogVersions(
  nc: NatsConnection,
  known: readonly ModelCatalog[],
): (version: string | undefined) => Promise<ModelCatalog | undefined> {
  const cache = new Map<string, ModelCatalog>(known.map((catalog) => [catalog.version, catalog]));
  let latest = known.at(-1);
  return async (version) => {
    if (version === undefined) return latest;
    const cached = cache.get(version);
    if (cached) return cached;
    for (const { event } of await readEvents(nc, StreamNames.config, CATALOG_SUBJECT)) {
      if (!isEvent(event, "catalog.published")) continue;
      const catalog = parseCatalog(event.data.catalog);
      cache.set(catalog.version, catalog);
      latest = catalog;
    }
    return cache.get(version);
  };
}
