import type { NatsConnection } from "@nats-io/transport-node";
import { assertTenantId, isEvent } from "../events/index.js";
import { readEvents, StreamNames } from "../nats/index.js";
import type { PolicyDocument } from "../routing/index.js";
import { policySubject } from "./publish.js";

export interface PolicyHistoryEntry {
  version: number;
  publishedAt: string;
  policy: PolicyDocument;
}

/** Every published version of a tenant's policy, oldest first, read from the config stream. */
export async function readPolicyHistory(nc: NatsConnection, tenant: string): Promise<PolicyHistoryEntry[]> {
  assertTenantId(tenant);
  const stored = await readEvents(nc, StreamNames.config, policySubject(tenant));
  const history: PolicyHistoryEntry[] = [];
  for (const { event } of stored) {
    if (isEvent(event, "policy.updated")) {
      history.push({ version: event.data.version, publishedAt: event.time, policy: event.data.policy });
    }
  }
  return history;
}

/** One version of a tenant's policy (for verifying a recorded decision), or undefined. */
export async function readPolicyVersion(
  nc: NatsConnection,
  tenant: string,
  version: number,
): Promise<PolicyHistoryEntry | undefined> {
  return (await readPolicyHistory(nc, tenant)).find((entry) => entry.version === version);
}
