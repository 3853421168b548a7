import type { NatsConnection } from "@nats-io/transport-node";
import { type ModelCatalog, parseCatalog } from "../src/catalog/index.js";
import { decodeEvent, isEvent } from "../src/events/index.js";
import { readStream, StreamNames } from "../src/nats/index.js";
import { CATALOG_SUBJECT, policySubject } from "../src/policies/index.js";
import { defaultPolicy, type VersionedPolicy } from "../src/routing/index.js";

/**
 * Policy and catalog versions as the config stream recorded them, read once and kept.
 * There are few versions (a handful per tenant, a handful of catalogs), and a version never
 * changes contents, so a bulk read over millions of decisions costs one config read per tenant
 * plus one for the catalogs — never the live KV view, which only knows the latest version.
 */
export class LogDocuments {
  private catalogs: Map<string, ModelCatalog> | undefined;
  private readonly policies = new Map<string, Map<number, VersionedPolicy>>();

  constructor(private readonly nc: NatsConnection) {}

  /** The catalog published under `version`, or undefined when the log has none. */
  async catalog(version: string): Promise<ModelCatalog | undefined> {
    if (!this.catalogs) {
      const catalogs = new Map<string, ModelCatalog>();
      for await (const message of readStream(this.nc, {
        stream: StreamNames.config,
        filters: [CATALOG_SUBJECT],
      })) {
        const event = decodeEvent(message.data, message.headers);
        if (!isEvent(event, "catalog.published")) continue;
        // A republished version keeps its contents (publishCatalog refuses other contents), so the first wins.
        if (!catalogs.has(event.data.catalog.version)) {
          catalogs.set(event.data.catalog.version, parseCatalog(event.data.catalog));
        }
      }
      this.catalogs = catalogs;
    }
    return this.catalogs.get(version);
  }

  /**
   * The tenant's policy at `version` (0: the built-in default), or undefined when the log has
   * no such version.
   */
  async policy(tenant: string, version: number): Promise<VersionedPolicy | undefined> {
    if (version === 0) return defaultPolicy(tenant);
    let versions = this.policies.get(tenant);
    if (!versions) {
      versions = new Map();
      for await (const message of readStream(this.nc, {
        stream: StreamNames.config,
        filters: [policySubject(tenant)],
      })) {
        const event = decodeEvent(message.data, message.headers);
        if (isEvent(event, "policy.updated")) {
          versions.set(event.data.version, {
            tenant,
            version: event.data.version,
            document: event.data.policy,
          });
        }
      }
      this.policies.set(tenant, versions);
    }
    return versions.get(version);
  }
}
