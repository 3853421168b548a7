import {
  apiKeySubject,
  configSubject,
  legacyApiKeySubject,
  producerSubject,
  SubjectRoots,
} from "../events/index.js";
import { StreamNames } from "../nats/index.js";
import type { AcceptedEvent, WorkerDeps } from "./context.js";

/** Why a request's envelope was refused; the `reason` label of `beamline_envelope_rejections_total`. */
export const EnvelopeRejections = {
  unknownTenant: "unknown_tenant",
  foreignKey: "foreign_key",
  foreignProducer: "foreign_producer",
  twoIdentities: "two_identities",
  replyTo: "reply_to",
} as const;

export type EnvelopeRejection = (typeof EnvelopeRejections)[keyof typeof EnvelopeRejections];

export type EnvelopeVerdict = { ok: true } | { ok: false; reason: EnvelopeRejection; detail: string };

/** Gateway processes' live inboxes are `bl.live.gw-<hex>.…` (src/gateway/waiters.ts). */
const GATEWAY_ORIGIN_PREFIX = "gw-";

/**
 * True when `replyTo` lies inside the origin's live inbox: `bl.live.<producerId>.…` for a
 * producer's request, `bl.live.gw-….…` (a gateway's) otherwise, with no wildcard or empty
 * token. Nothing under `bl.live` is captured by a stream, so an answer sent there can never
 * land in a tenant's history (the attack this closes: `replyTo: bl.usage.victim.x` made the
 * worker write usage records into another tenant's stream).
 */
export function isReplyToAllowed(replyTo: string, origin: { producerId?: string | undefined }): boolean {
  const tokens = replyTo.split(".");
  if (tokens.length < 4 || `${tokens[0]}.${tokens[1]}` !== SubjectRoots.live) return false;
  if (tokens.some((token) => token === "" || token === "*" || token === ">" || /\s/.test(token)))
    return false;
  const inbox = tokens[2] ?? "";
  return origin.producerId !== undefined
    ? inbox === origin.producerId
    : inbox.startsWith(GATEWAY_ORIGIN_PREFIX) && inbox.length > GATEWAY_ORIGIN_PREFIX.length;
}

/**
 * The worker's checks of a signed request.accepted before anything is served (the signature
 * itself is checked by the consumer runner): the tenant exists, the API key or producer that
 * sent it belongs to that tenant, and `replyTo` lies in the origin's inbox.
 *
 * Reads the live views; when a view has not caught up yet (a tenant or key created a moment
 * ago), the signed configuration event in the log decides instead — one direct get, on the miss
 * path only. An unsigned configuration event never counts. A disabled tenant passes here: its
 * refusal is the admit step's `BL_TENANT_DISABLED`, recorded in its own history.
 */
export async function checkEnvelope(deps: WorkerDeps, accepted: AcceptedEvent): Promise<EnvelopeVerdict> {
  const { tenant } = accepted;
  const { apiKeyId, producerId, replyTo } = accepted.data;
  const refuse = (reason: EnvelopeRejection, detail: string): EnvelopeVerdict => ({
    ok: false,
    reason,
    detail,
  });
  const logged = (subject: string) => deps.store.readFirstTrusted(StreamNames.config, subject);

  if (!deps.tenants.get(tenant) && !(await logged(configSubject("tenant", tenant)))) {
    return refuse(EnvelopeRejections.unknownTenant, `tenant ${tenant} was never created`);
  }
  if (apiKeyId !== undefined && producerId !== undefined) {
    return refuse(
      EnvelopeRejections.twoIdentities,
      "a request comes from an API key or a producer, not both",
    );
  }
  if (apiKeyId !== undefined) {
    const owner = deps.keys.lookupBy(apiKeyId)?.tenant ?? (await keyOwnerFromLog(deps, tenant, apiKeyId));
    if (owner !== tenant)
      return refuse(EnvelopeRejections.foreignKey, `API key ${apiKeyId} is not tenant ${tenant}'s`);
  }
  if (producerId !== undefined) {
    const owner =
      deps.producers.get(producerId)?.tenant ??
      ((await logged(producerSubject(tenant, producerId))) ? tenant : undefined);
    if (owner !== tenant) {
      return refuse(EnvelopeRejections.foreignProducer, `producer ${producerId} is not tenant ${tenant}'s`);
    }
  }
  if (replyTo !== undefined && !isReplyToAllowed(replyTo, { producerId })) {
    return refuse(EnvelopeRejections.replyTo, `replyTo ${replyTo} is outside the origin's inbox`);
  }
  return { ok: true };
}

/** The tenant whose signed `apikey.issued` opened the key's subject, tenant-scoped or legacy. */
async function keyOwnerFromLog(deps: WorkerDeps, tenant: string, keyId: string): Promise<string | undefined> {
  if (await deps.store.readFirstTrusted(StreamNames.config, apiKeySubject(tenant, keyId))) return tenant;
  return (await deps.store.readFirstTrusted(StreamNames.config, legacyApiKeySubject(keyId)))?.tenant;
}
