import type { ModelCatalog, TokenCounts } from "../src/catalog/index.js";
import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import type { VersionedPolicy } from "../src/routing/index.js";
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
      gathered.attempts.push({
        provider: event.data.provider,
        model: event.data.model,
        durationMs: event.data.durationMs,
        succeeded: isEvent(event, "attempt.succeeded"),
      });
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
