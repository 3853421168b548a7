import { assertTenantId, configSubject, isEvent, makeEvent } from "../events/index.js";
import type { EventStore } from "../nats/index.js";
import { appendNextVersion, contentDigest, StreamNames } from "../nats/index.js";
import { parsePolicyDocument, type VersionedPolicy } from "../routing/index.js";

/** Subject of a tenant's policy events: `bl.cfg.policy.<tenant>`. */
export function policySubject(tenant: string): string {
  return configSubject("policy", tenant);
}

/**
 * Validates and publishes a tenant's policy document as `policy.updated` with the next version
 * (1, 2, 3, ...: monotonic per tenant, assigned here, never by the author). Throws
 * `BL_POLICY_INVALID` listing every problem, or `BL_INVALID_TENANT_ID`.
 */
export async function publishPolicy(
  store: EventStore,
  tenant: string,
  document: unknown,
  now: Date,
): Promise<VersionedPolicy> {
  assertTenantId(tenant);
  const policy = parsePolicyDocument(document);
  const digest = contentDigest(policy);
  const result = await appendNextVersion(store, StreamNames.config, policySubject(tenant), (last) => {
    const previous = last && isEvent(last, "policy.updated") ? last.data.version : 0;
    const version = previous + 1;
    const event = makeEvent(
      "policy.updated",
      `policy.updated:${tenant}:${version}:${digest}`,
      { tenant, requestId: "", correlationId: `policy:${tenant}:${version}` },
      { version, policy },
      now,
    );
    return { version, event };
  });
  return { tenant, version: result.version, document: policy };
}
