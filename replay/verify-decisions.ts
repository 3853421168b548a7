import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ChatRequest } from "../src/chat/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  type HeaderReader,
  isEvent,
  RequestSlots,
  requestSubject,
} from "../src/events/index.js";
import { readStream, StreamNames } from "../src/nats/index.js";
import {
  DEFAULT_POLICY_ID,
  type RouteDecision,
  recomputeDecision,
  type VersionedPolicy,
} from "../src/routing/index.js";
import { diffDecision, type FieldDifference } from "./decision-diff.js";
import { LogDocuments } from "./log-documents.js";

/** A recorded decision that does not re-derive identically. */
export interface DecisionMismatch {
  tenant: string;
  requestId: string;
  /** Stream sequence of the `route.decided` event in BL_REQUESTS. */
  seq: number;
  /** When the decision was made (the event's time). */
  time: string;
  /** The fields that differ; empty when {@link problem} says why nothing could be compared. */
  differences: FieldDifference[];
  /** Why the decision could not be recomputed at all: an input the log lacks, or an engine error. */
  problem?: string;
}

export interface DecisionsVerification {
  /** Recorded decisions read in the window. */
  decisions: number;
  /** Of those, re-derived identically. */
  identical: number;
  mismatched: number;
  /**
   * Decisions whose request content this reader cannot open (an erased tenant, or no master key
   * here): the engine needs the prompt to re-count its tokens, so they are neither identical nor
   * mismatched.
   */
  unreadable: number;
}

export interface VerifyDecisionsOptions {
  /** Only this tenant's decisions (a subject filter: other tenants' messages are never read). */
  tenant?: string;
  since?: Date;
  until?: Date;
  onProgress?: (read: number, total: number) => void;
  /** Called for each mismatch as it is found, so output streams too. */
  onMismatch: (mismatch: DecisionMismatch) => void;
  /** Decodes a stored message; the CLI passes the content codec so sealed requests open. Default: no opening. */
  decode?: (payload: Uint8Array, headers: HeaderReader | undefined) => Promise<BeamlineEvent>;
}

/**
 * How many `request.accepted` requests wait for their decision. The decision follows its
 * acceptance within milliseconds, so a window this size pairs nearly all of them; a request
 * pushed out (or accepted before `since`) is fetched by subject when its decision arrives.
 * Bounds memory whatever the history's size.
 */
const PENDING_ACCEPTED = 10_000;

/**
 * Re-derives every recorded `route.decided` in the window with the policy engine, from the
 * inputs the log holds: the policy and catalog versions the decision names (read from the
 * config stream's history, not the live view), its recorded health snapshot, quota state and
 * seed, and the request as routed. Streams BL_REQUESTS once over the `accepted` and `decided`
 * slots; memory is bounded by {@link PENDING_ACCEPTED} and the number of document versions.
 */
export async function verifyDecisions(
  nc: NatsConnection,
  options: VerifyDecisionsOptions,
): Promise<DecisionsVerification> {
  const tenant = options.tenant ?? "*";
  const documents = new LogDocuments(nc);
  const jsm = await jetstreamManager(nc);
  const pending = new Map<string, ChatRequest>();
  const result: DecisionsVerification = { decisions: 0, identical: 0, mismatched: 0, unreadable: 0 };
  const decode = options.decode ?? (async (payload, headers) => decodeEvent(payload, headers));
  /** Requests whose accepted event is in the window but whose content did not open. */
  const sealed = new Set<string>();

  const acceptedRequest = async (event: BeamlineEvent): Promise<ChatRequest | undefined> => {
    const key = `${event.tenant}.${event.requestId}`;
    const held = pending.get(key);
    if (held) {
      pending.delete(key);
      return held;
    }
    const stored = await jsm.direct.getMessage(StreamNames.requests, {
      last_by_subj: requestSubject(event.tenant, event.requestId, RequestSlots.accepted),
    });
    if (!stored) return undefined;
    const accepted = await decode(stored.data, stored.header);
    if (isEvent(accepted, "request.accepted") && !accepted.data.request) sealed.add(key);
    return isEvent(accepted, "request.accepted") ? accepted.data.request : undefined;
  };

  for await (const message of readStream(nc, {
    stream: StreamNames.requests,
    filters: [
      requestSubject(tenant, "*", RequestSlots.accepted),
      requestSubject(tenant, "*", RequestSlots.decided),
    ],
    ...(options.since ? { since: options.since } : {}),
    ...(options.until ? { until: options.until } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })) {
    const event = await decode(message.data, message.headers);
    if (isEvent(event, "request.accepted")) {
      if (event.data.request) pending.set(`${event.tenant}.${event.requestId}`, event.data.request);
      // An embeddings request has no chat request: its decision holds the view it routed.
      else if (event.data.operation !== "embeddings") sealed.add(`${event.tenant}.${event.requestId}`);
      if (pending.size > PENDING_ACCEPTED) {
        const oldest = pending.keys().next().value;
        if (oldest !== undefined) pending.delete(oldest);
      }
      continue;
    }
    if (!isEvent(event, "route.decided")) continue;
    result.decisions++;
    const recorded = event.data;
    // The request as routed is on the decision when extensions changed it; only then is the
    // accepted request not needed.
    const request = recorded.request ?? (await acceptedRequest(event));
    if (recorded.request) pending.delete(`${event.tenant}.${event.requestId}`);
    if ((!request && sealed.delete(`${event.tenant}.${event.requestId}`)) || (!request && recorded.atRest)) {
      result.unreadable++;
      continue;
    }
    const mismatch = await check(documents, event.tenant, recorded, request);
    if (mismatch) {
      result.mismatched++;
      options.onMismatch({
        tenant: event.tenant,
        requestId: event.requestId,
        seq: message.seq,
        time: event.time,
        ...mismatch,
      });
    } else result.identical++;
  }
  return result;
}

async function check(
  documents: LogDocuments,
  tenant: string,
  recorded: RouteDecision,
  request: ChatRequest | undefined,
): Promise<Pick<DecisionMismatch, "differences" | "problem"> | undefined> {
  if (!request) {
    return {
      differences: [],
      problem:
        "its request is not readable: request.accepted is not in the log, or its content is sealed (erased tenant, or no master key here)",
    };
  }
  // Decisions from before policy versions were recorded name the default policy.
  const version = recorded.policy === DEFAULT_POLICY_ID ? 0 : recorded.policyVersion;
  const policy: VersionedPolicy | undefined =
    version === undefined ? undefined : await documents.policy(tenant, version);
  if (!policy) {
    return {
      differences: [],
      problem: `policy version ${version ?? "(none)"} of ${tenant} is not in the log`,
    };
  }
  const catalog = await documents.catalog(recorded.catalogVersion);
  if (!catalog) return { differences: [], problem: `catalog ${recorded.catalogVersion} is not in the log` };
  let again: RouteDecision;
  try {
    again = recomputeDecision(recorded, { request, policy, catalog });
  } catch (error) {
    return { differences: [], problem: `recomputing failed: ${(error as Error).message}` };
  }
  const differences = diffDecision(recorded, again);
  return differences.length > 0 ? { differences } : undefined;
}
