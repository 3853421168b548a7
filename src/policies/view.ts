import type { NatsConnection } from "@nats-io/transport-node";
import type { PolicyRecord } from "../../projections/index.js";
import { BeamlineError } from "../errors/index.js";
import { jsonValue, KvBuckets, watchKvView } from "../nats/index.js";
import type { Logger } from "../observability/index.js";
import { defaultPolicy, policyDocumentSchema, type VersionedPolicy } from "../routing/index.js";

/** What the worker reads a tenant's policy from. */
export interface PolicyView {
  /** The tenant's current policy, or the built-in default (version 0) when it has none. */
  policyFor(tenant: string): VersionedPolicy;
  readonly ready: Promise<void>;
  stop(): void;
}

function decodePolicyRecord(value: unknown, key: string): VersionedPolicy {
  const record = value as PolicyRecord;
  if (typeof record.version !== "number") {
    throw new BeamlineError(
      "BL_POLICY_INVALID",
      `policy record ${key} has no version; publish the policy again`,
    );
  }
  // Parsing again fills defaults a newer schema added since the document was published.
  return { tenant: key, version: record.version, document: policyDocumentSchema.parse(record.policy) };
}

/** Watches KV `bl_policies`: a published policy applies on every instance within the watch delay, without restart. */
export async function watchPolicies(nc: NatsConnection, log: Logger): Promise<PolicyView> {
  const view = await watchKvView(nc, KvBuckets.policies, { decode: jsonValue(decodePolicyRecord), log });
  return {
    policyFor: (tenant) => view.get(tenant) ?? defaultPolicy(tenant),
    ready: view.ready,
    stop: view.stop,
  };
}
