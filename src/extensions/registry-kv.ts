import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { jsonValue, KvBuckets, watchKvView } from "../nats/index.js";
import type { Logger } from "../observability/index.js";
import {
  type ExtensionRegistration,
  type ExtensionResolver,
  extensionRegistrationSchema,
  registrationKey,
  resolverOver,
} from "./registry.js";

/** The live registry of external extensions: a KV watch keeps every worker's view current. */
export interface ExtensionRegistryView extends ExtensionResolver {
  /** Resolves once the bucket's current contents are loaded. */
  ready: Promise<void>;
  list(): ExtensionRegistration[];
  stop(): void;
}

/**
 * Watches `bl_extensions`. A put or delete reaches every worker within the watch's latency
 * (a few ms on a local server), so registering or removing an extension needs no restart;
 * requests already past a step are not affected.
 */
export async function watchExtensionRegistry(
  nc: NatsConnection,
  log?: Logger,
): Promise<ExtensionRegistryView> {
  const view = await watchKvView(nc, KvBuckets.extensions, {
    decode: jsonValue((value) => extensionRegistrationSchema.parse(value)),
    log,
  });
  return {
    ...resolverOver(() => view.entries()),
    ready: view.ready,
    list: () => [...view.entries().values()],
    stop: view.stop,
  };
}

/** Opens the registry bucket (created by `beamline streams apply`). */
export function openExtensionRegistry(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(KvBuckets.extensions);
}

/** Registers (or updates) one extension version; returns the KV revision. */
export function registerExtension(kv: KV, registration: ExtensionRegistration): Promise<number> {
  const valid = extensionRegistrationSchema.parse(registration);
  return kv.put(registrationKey(valid.name, valid.version), JSON.stringify(valid));
}

/** Removes one extension version; pipelines that still name it hit their failure mode. */
export function unregisterExtension(kv: KV, name: string, version: string): Promise<void> {
  return kv.delete(registrationKey(name, version));
}
