import type { NatsConnection } from "@nats-io/transport-node";
import {
  type BeamlineEvent,
  decodeEvent,
  type HeaderReader,
  RequestSlots,
  requestSubject,
} from "../src/events/index.js";
import { readStream, StreamNames } from "../src/nats/index.js";
import { DEFAULT_POLICY_ID } from "../src/routing/index.js";
import { LogDocuments } from "./log-documents.js";
import { CacheWhatIf, type CacheWhatIfReport } from "./whatif-cache.js";
import { cacheFacts, hedgeFacts, RequestGatherer, recordedRequest } from "./whatif-facts.js";
import { HedgeWhatIf, type HedgeWhatIfReport } from "./whatif-hedge.js";
import { WhatIf, type WhatIfAlternative, type WhatIfReport } from "./whatif-report.js";

export interface WhatIfRun {
  report: WhatIfReport;
  /** The alternative policy's `cache` section over the history; present when it sets `mode: "exact"`. */
  cache?: CacheWhatIfReport;
  /** The alternative policy's `hedge` section over the history; present when it has one. */
  hedge?: HedgeWhatIfReport;
  /** Requests read that could not be routed again, and why. */
  skipped: {
    /** Finished without a recorded decision (refused before or by routing). */
    undecided: number;
    /** Their decision names a policy or catalog version the log does not hold. */
    missingDocuments: number;
    /** Accepted before the window, in flight when the read ended, or pushed out of the bounded window. */
    incomplete: number;
    /** Their request content does not open here (an erased tenant, or no master key): the prompt cannot be re-counted. */
    unreadable: number;
  };
}

/**
 * Reads a tenant's recorded requests from BL_REQUESTS (accepted, decided, attempts, terminal;
 * by subject filter, other tenants are never read) and routes each again under `alternative`
 * with the {@link WhatIf} core; when the alternative policy has an exact `cache` or a `hedge`
 * section, the same requests, in stored order, also go through {@link CacheWhatIf} and
 * {@link HedgeWhatIf}. Streams: memory holds requests in flight plus aggregates (and the cache
 * keys live within the candidate TTL).
 */
export async function runWhatIf(
  nc: NatsConnection,
  options: {
    tenant: string;
    alternative: WhatIfAlternative;
    since?: Date;
    until?: Date;
    onProgress?: (read: number, total: number) => void;
    /** Decodes a stored message; the CLI passes the content codec so sealed requests open. Default: no opening. */
    decode?: (payload: Uint8Array, headers: HeaderReader | undefined) => Promise<BeamlineEvent>;
  },
): Promise<WhatIfRun> {
  const decode = options.decode ?? (async (payload, headers) => decodeEvent(payload, headers));
  const documents = new LogDocuments(nc);
  const gatherer = new RequestGatherer();
  const whatIf = new WhatIf(options.alternative);
  const candidate = options.alternative.policy?.document;
  const cache =
    candidate?.cache.mode === "exact"
      ? new CacheWhatIf(options.tenant, candidate.cache, candidate.content.store)
      : undefined;
  const hedge = candidate?.hedge ? new HedgeWhatIf(candidate.hedge) : undefined;
  const skipped = { undecided: 0, missingDocuments: 0, incomplete: 0, unreadable: 0 };
  const slot = (name: string) => requestSubject(options.tenant, "*", name);
  for await (const message of readStream(nc, {
    stream: StreamNames.requests,
    filters: [
      slot(RequestSlots.accepted),
      slot(RequestSlots.decided),
      slot(`${RequestSlots.attempt}.*`),
      slot(RequestSlots.terminal),
    ],
    ...(options.since ? { since: options.since } : {}),
    ...(options.until ? { until: options.until } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })) {
    const gathered = gatherer.add(await decode(message.data, message.headers));
    if (!gathered) continue;
    const decided = gathered.decided;
    if (!decided) {
      skipped.undecided++;
      continue;
    }
    const version = decided.data.policy === DEFAULT_POLICY_ID ? 0 : decided.data.policyVersion;
    const policy = version === undefined ? undefined : await documents.policy(options.tenant, version);
    const catalog = await documents.catalog(decided.data.catalogVersion);
    if (!policy || !catalog) {
      skipped.missingDocuments++;
      continue;
    }
    cache?.add(cacheFacts(gathered, catalog));
    hedge?.add(hedgeFacts(gathered, options.alternative.catalog ?? catalog));
    const recorded = recordedRequest(gathered, policy, catalog);
    // Only a request whose content did not open (an erased tenant, no master key) has no record.
    if (recorded) whatIf.add(recorded);
    else skipped.unreadable++;
  }
  skipped.incomplete = gatherer.incomplete + gatherer.unfinished;
  return {
    report: whatIf.report(),
    ...(cache ? { cache: cache.report() } : {}),
    ...(hedge ? { hedge: hedge.report() } : {}),
    skipped,
  };
}
