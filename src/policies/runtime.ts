import type { NatsConnection } from "@nats-io/transport-node";
import type { ModelCatalog } from "../catalog/index.js";
import type { EventStore } from "../nats/index.js";
import type { Logger } from "../observability/index.js";
import { type CatalogView, seedCatalogIfEmpty, watchCatalog } from "./catalog-store.js";
import { type PolicyView, watchPolicies } from "./view.js";

/** The live configuration views a worker routes with. */
export interface ConfigViews {
  policies: PolicyView;
  catalog: CatalogView;
  stop(): void;
}

/**
 * Start-up of the configuration views: publishes `seedCatalog` (config/catalog.json) as the
 * first catalog when none was ever published, then watches the policy and catalog buckets and
 * resolves once both have loaded. Until the projector has projected the seed, the catalog view
 * serves `seedCatalog` itself, so routing never waits on the projection.
 */
export async function startConfigViews(options: {
  nc: NatsConnection;
  store: EventStore;
  log: Logger;
  /** The catalog file's contents, unfiltered: what is published when no catalog exists. */
  seedCatalog: ModelCatalog;
  /** Providers this instance can reach; the catalog view holds only their models. */
  providers?: ReadonlySet<string>;
  now: Date;
}): Promise<ConfigViews> {
  const seeded = await seedCatalogIfEmpty(options.store, options.seedCatalog, options.now);
  if (seeded)
    options.log.info({ catalogVersion: options.seedCatalog.version }, "published the seed model catalog");
  const policies = await watchPolicies(options.nc, options.log);
  const catalog = await watchCatalog(options.nc, options.log, options.seedCatalog, options.providers);
  await Promise.all([policies.ready, catalog.ready]);
  return {
    policies,
    catalog,
    stop: () => {
      policies.stop();
      catalog.stop();
    },
  };
}
