import { computeCost, type ModelCatalog, type TokenCounts } from "../src/catalog/index.js";
import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import type { VersionedPolicy } from "../src/routing/index.js";
import type { CacheFacts } from "./whatif-cache.js";
import type { HedgeAttemptFacts, HedgeFacts } from "./whatif-hedge.js";
import type { RecordedAttempt, RecordedRequest } from "./whatif-report.js";

/** The events of one request a what-if reads, gathered until its terminal event. */
export interface GatheredRequest {
  accepted: BeamlineEvent<"request.accepted">;
  decided?: BeamlineEvent<"route.decided">;
  attempts: RecordedAttempt[];
  terminal: BeamlineEvent<"request.completed"> | BeamlineEvent<"request.failed">;
}

/**
 * Groups a tenant's interleaved request events (accepted, decided, attempt.N, terminal, in log
 * order) by request, and hands each request over when its terminal event arrives. Requests in
 * flight are held; at most `limit` of them (the oldest is dropped and counted as
 * {@link incomplete}), so memory is bounded whatever the history's size. Pure.
 */
export class RequestGatherer {
  private readonly open = new Map<string, Omit<GatheredRequest, "terminal">>();
  /** Requests dropped because more than `limit` were open at once, or whose acceptance precedes the window. */
  incomplete = 0;

  constructor(private readonly limit = 50_000) {}

  /** Adds one event; returns the request it completes, if any. */
  add(event: BeamlineEvent): GatheredRequest | undefined {
    if (isEvent(event, "request.accepted")) {
      this.open.set(event.requestId, { accepted: event, attempts: [] });
      if (this.open.size > this.limit) {
        const oldest = this.open.keys().next().value;
        if (oldest !== undefined) this.open.delete(oldest);
        this.incomplete++;
      }
      return undefined;
    }
    const gathered = this.open.get(event.requestId);
    if (!gathered) {
      // Its acceptance is before the window (or was dropped): counted once, at its terminal.
      if (isEvent(event, "request.completed") || isEvent(event, "request.failed")) this.incomplete++;
      return undefined;
    }
    if (isEvent(event, "route.decided")) gathered.decided = event;
    else if (isEvent(event, "attempt.succeeded") || isEvent(event, "attempt.failed")) {
      const attempt: RecordedAttempt = {
        provider: event.data.provider,
        model: event.data.model,
        durationMs: event.data.durationMs,
        succeeded: isEvent(event, "attempt.succeeded"),
        streamed: event.data.streamed,
      };
      if (event.data.candidate !== undefined) attempt.candidate = event.data.candidate;
      if (isEvent(event, "attempt.succeeded")) attempt.firstTokenMs = event.data.timeToFirstTokenMs;
      else if (isEvent(event, "attempt.failed")) {
        attempt.chunksSent = event.data.chunksSent;
        if (event.data.hedge?.outcome === "lost") attempt.cancelled = true;
      }
      gathered.attempts.push(attempt);
    } else if (isEvent(event, "request.completed") || isEvent(event, "request.failed")) {
      this.open.delete(event.requestId);
      return { ...gathered, terminal: event };
    }
    return undefined;
  }

  /** Requests accepted and not finished when the read ended (in flight, or the window cut them). */
  get unfinished(): number {
    return this.open.size;
  }
}

/**
 * The recorded facts of a gathered request, given the policy and catalog versions its decision
 * names; undefined for a request that never got a decision (refused before or by routing),
 * which a what-if cannot route again from the same inputs.
 */
export function recordedRequest(
  gathered: GatheredRequest,
  policy: VersionedPolicy,
  catalog: ModelCatalog,
): RecordedRequest | undefined {
  const decided = gathered.decided;
  if (!decided) return undefined;
  // Sealed content this reader cannot open (an erased tenant): the request cannot be re-routed.
  const request = decided.data.request ?? gathered.accepted.data.request;
  if (!request) return undefined;
  const terminal = gathered.terminal;
  const recorded: RecordedRequest = {
    requestId: gathered.accepted.requestId,
    time: gathered.accepted.time,
    request,
    decision: decided.data,
    policy,
    catalog,
    outcome: isEvent(terminal, "request.completed") ? "completed" : "failed",
    attempts: gathered.attempts,
  };
  if (isEvent(terminal, "request.failed")) recorded.errorCode = terminal.data.error.code;
  if (terminal.data.provider && terminal.data.model) {
    recorded.served = { provider: terminal.data.provider, model: terminal.data.model };
  }
  const usage: TokenCounts | undefined = terminal.data.usage;
  if (usage) recorded.usage = usage;
  return recorded;
}

/**
 * The facts a cache what-if reads of a gathered request with a decision; `request` is absent
 * when its content did not open here. `costNanoUsd` is the recorded usage at the recorded
 * catalog's prices (0 when unknown), the figure a hit would have saved before its discount.
 */
export function cacheFacts(gathered: GatheredRequest, catalog: ModelCatalog | undefined): CacheFacts {
  const accepted = gathered.accepted;
  const terminal = gathered.terminal;
  const facts: CacheFacts = {
    requestId: accepted.requestId,
    acceptedAt: accepted.time,
    caller: accepted.data.apiKeyId ?? accepted.data.producerId,
    request: gathered.decided?.data.request ?? accepted.data.request,
    model: gathered.decided?.data.candidates[0]?.model,
    control: accepted.data.cacheControl,
    costNanoUsd: recordedCost(terminal, catalog),
  };
  if (isEvent(terminal, "request.completed")) facts.completedAt = terminal.time;
  return facts;
}

/**
 * The facts a hedge what-if reads of a gathered request: its attempts, the decision's candidate
 * after the one its first attempt tried, and the estimate of a hedge's extra cost there (the
 * recorded tokens at that candidate's prices in `catalog`; 0 without recorded usage).
 */
export function hedgeFacts(gathered: GatheredRequest, catalog: ModelCatalog | undefined): HedgeFacts {
  const candidates = gathered.decided?.data.candidates ?? [];
  const firstIndex = gathered.attempts[0]?.candidate ?? 0;
  const next = candidates[firstIndex + 1];
  const usage = gathered.terminal.data.usage;
  const entry = next ? catalog?.resolve(next.model) : undefined;
  return {
    requestId: gathered.accepted.requestId,
    acceptedAt: gathered.accepted.time,
    attempts: gathered.attempts.map((a) => {
      const facts: HedgeAttemptFacts = {
        provider: a.provider,
        model: a.model,
        streamed: a.streamed,
        durationMs: a.durationMs,
      };
      if (a.firstTokenMs !== undefined) facts.firstTokenMs = a.firstTokenMs;
      if (a.chunksSent !== undefined) facts.chunksSent = a.chunksSent;
      if (a.cancelled) facts.cancelled = true;
      return facts;
    }),
    next: next ? { provider: next.provider, model: next.model } : undefined,
    extraCostNanoUsd: entry && usage ? computeCost(entry, usage).costNanoUsd : 0,
  };
}

function recordedCost(terminal: GatheredRequest["terminal"], catalog: ModelCatalog | undefined): number {
  const usage = terminal.data.usage;
  const model = terminal.data.model;
  const entry = usage && model ? catalog?.resolve(model) : undefined;
  return entry && usage ? computeCost(entry, usage).costNanoUsd : 0;
}
