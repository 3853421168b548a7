import type { NatsConnection } from "@nats-io/transport-node";
import { type ModelCatalog, parseCatalog } from "../src/catalog/index.js";
import { BeamlineError } from "../src/errors/index.js";
import { isEvent, requireContent } from "../src/events/index.js";
import { type EventCodec, readEvents, StreamNames } from "../src/nats/index.js";
import { CATALOG_SUBJECT, readPolicyVersion } from "../src/policies/index.js";
import {
  DEFAULT_POLICY_ID,
  type DecisionVerification,
  defaultPolicy,
  type VersionedPolicy,
  verifyDecision,
} from "../src/routing/index.js";
import { readRequestHistory } from "./request-history.js";

/** The catalog published under `version`, from the config stream's history, or undefined. */
export async function readCatalogVersion(
  nc: NatsConnection,
  version: string,
): Promise<ModelCatalog | undefined> {
  const stored = await readEvents(nc, StreamNames.config, CATALOG_SUBJECT);
  for (const { event } of stored.reverse()) {
    if (isEvent(event, "catalog.published") && event.data.catalog.version === version) {
      return parseCatalog(event.data.catalog);
    }
  }
  return undefined;
}

/**
 * Re-runs the routing decision of one recorded request: reads its `request.accepted` and
 * `route.decided` events, the policy version and the catalog version the decision names, and
 * reports whether the policy engine decides the same today. Throws `BL_NOT_FOUND` when the
 * request, its decision, or the documents it names are not in the log, and `BL_CONTENT_UNREADABLE`
 * when the request is sealed and no `codec` (one holding the master key) opens it.
 */
export async function verifyRecordedDecision(
  nc: NatsConnection,
  tenant: string,
  requestId: string,
  /** Opens sealed content (the store's codec); without it only unsealed requests verify. */
  codec?: EventCodec,
): Promise<DecisionVerification> {
  const history = await readRequestHistory(nc, tenant, requestId, codec);
  const accepted = history.map((s) => s.event).find((e) => isEvent(e, "request.accepted"));
  const decided = history.map((s) => s.event).find((e) => isEvent(e, "route.decided"));
  if (!accepted || !isEvent(accepted, "request.accepted") || !decided || !isEvent(decided, "route.decided")) {
    throw new BeamlineError(
      "BL_NOT_FOUND",
      `request ${requestId} of tenant ${tenant} has no recorded decision`,
    );
  }
  const recorded = decided.data;
  let policy: VersionedPolicy;
  if (recorded.policy === DEFAULT_POLICY_ID || recorded.policyVersion === 0) policy = defaultPolicy(tenant);
  else {
    const entry = await readPolicyVersion(nc, tenant, recorded.policyVersion ?? -1);
    if (!entry)
      throw new BeamlineError(
        "BL_NOT_FOUND",
        `policy version ${recorded.policyVersion} of ${tenant} is not in the log`,
      );
    policy = { tenant, version: entry.version, document: entry.policy };
  }
  const catalog = await readCatalogVersion(nc, recorded.catalogVersion);
  if (!catalog)
    throw new BeamlineError("BL_NOT_FOUND", `catalog ${recorded.catalogVersion} is not in the log`);
  return verifyDecision(recorded, {
    // An embeddings decision holds the chat view it routed; the accepted event has no chat request.
    request: recorded.request ?? requireContent(accepted.data.request, accepted),
    policy,
    catalog,
  });
}
