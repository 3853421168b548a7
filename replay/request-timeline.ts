import { formatNanoUsd } from "../src/catalog/index.js";
import { type BeamlineEvent, upcastAndValidate } from "../src/events/index.js";
import type { HistoryRecord } from "./audit-line.js";

/** One step of a request's timeline, as `beamline requests show` prints it. */
export interface TimelineStep {
  /** Milliseconds from `request.accepted` (the step's start for attempts, else its event time). */
  offsetMs: number | undefined;
  durationMs: number | undefined;
  step: string;
  /** `provider/model`, when the step concerns one. */
  target: string | undefined;
  /** `prompt→completion` tokens, or a quota amount's tokens. */
  tokens: string | undefined;
  /** USD, from the usage record or a quota amount. */
  cost: string | undefined;
  outcome: string;
  /** Where the event is stored (`BL_REQUESTS#12`). */
  ref: string;
}

const tokensOf = (usage: { promptTokens: number; completionTokens: number; cachedTokens?: number }) =>
  `${usage.promptTokens}→${usage.completionTokens}${usage.cachedTokens ? ` (${usage.cachedTokens} cached)` : ""}`;

const target = (provider: string | undefined, model: string | undefined) =>
  provider && model ? `${provider}/${model}` : (model ?? provider);

type Describe = Omit<TimelineStep, "offsetMs" | "ref"> & { at: string };

/** What one event says in the timeline; `at` is the time its offset is measured to. */
function describe(event: BeamlineEvent): Describe {
  const base = {
    at: event.time,
    durationMs: undefined,
    target: undefined,
    tokens: undefined,
    cost: undefined,
  };
  switch (event.type) {
    case "request.accepted": {
      const d = (event as BeamlineEvent<"request.accepted">).data;
      return {
        ...base,
        step: "accepted",
        target: d.request?.model,
        outcome: `${d.frontDoor}${d.stream ? ", streamed" : ""}${d.apiKeyId ? `, key ${d.apiKeyId}` : ""}`,
      };
    }
    case "extension.applied": {
      const d = (event as BeamlineEvent<"extension.applied">).data;
      return {
        ...base,
        step: `extension ${d.stage} ${d.name}@${d.version}`,
        durationMs: d.durationMs,
        outcome: [d.verdict, d.reason, d.summary, d.error?.code].filter(Boolean).join(": "),
      };
    }
    case "route.decided": {
      const d = (event as BeamlineEvent<"route.decided">).data;
      const chosen = d.candidates[0]!;
      return {
        ...base,
        step: "decided",
        target: target(chosen.provider, chosen.model),
        cost:
          chosen.estimatedCostNanoUsd !== undefined
            ? `~${formatNanoUsd(chosen.estimatedCostNanoUsd)}`
            : undefined,
        outcome: `policy ${d.policy}${d.policyVersion !== undefined ? ` v${d.policyVersion}` : ""}, chose 1 of ${d.candidates.length} (${chosen.reason})${d.excluded?.length ? `, ${d.excluded.length} excluded` : ""}`,
      };
    }
    case "attempt.succeeded":
    case "attempt.failed": {
      const attempt = event as BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;
      const d = attempt.data;
      return {
        ...base,
        at: d.startedAt,
        step: `attempt ${d.attempt}`,
        durationMs: d.durationMs,
        target: target(d.provider, d.model),
        tokens: d.usage ? tokensOf(d.usage) : undefined,
        outcome:
          attempt.type === "attempt.succeeded"
            ? `ok, first token ${Math.round(attempt.data.timeToFirstTokenMs)} ms${attempt.data.postRejection ? `, refused by ${attempt.data.postRejection.extension.name}` : ""}`
            : `${attempt.data.errorClass} ${attempt.data.error.code}${attempt.data.providerStatus ? ` (HTTP ${attempt.data.providerStatus})` : ""}${attempt.data.next ? ` → ${attempt.data.next}` : ""}`,
      };
    }
    case "request.completed": {
      const d = (event as BeamlineEvent<"request.completed">).data;
      return {
        ...base,
        step: "completed",
        target: target(d.provider, d.model),
        tokens: tokensOf(d.usage),
        outcome: `ok after ${d.attempts} attempt(s)`,
      };
    }
    case "request.failed": {
      const d = (event as BeamlineEvent<"request.failed">).data;
      return {
        ...base,
        step: "failed",
        target: target(d.provider, d.model),
        tokens: d.usage ? tokensOf(d.usage) : undefined,
        outcome: `${d.error.code} at ${d.stage}${d.extension ? ` by ${d.extension.name}` : ""}`,
      };
    }
    case "usage.recorded": {
      const d = (event as BeamlineEvent<"usage.recorded">).data;
      return {
        ...base,
        step: "usage",
        target: target(d.provider, d.model),
        tokens: tokensOf(d),
        cost: d.costUsd,
        outcome: `${d.outcome}, catalog ${d.catalogVersion}`,
      };
    }
    case "quota.reserved": {
      const d = (event as BeamlineEvent<"quota.reserved">).data;
      return {
        ...base,
        step: `quota reserved #${d.attempt}`,
        target: target(d.provider, d.model),
        tokens: String(d.estimate.tokens),
        cost: formatNanoUsd(d.estimate.costNanoUsd),
        outcome: `held until ${d.expiresAt}`,
      };
    }
    case "quota.settled": {
      const d = (event as BeamlineEvent<"quota.settled">).data;
      return {
        ...base,
        step: "quota settled",
        tokens: String(d.actual.tokens),
        cost: formatNanoUsd(d.actual.costNanoUsd),
        outcome: d.afterExpiry ? "after expiry" : "released the reservation",
      };
    }
    case "quota.expired": {
      const d = (event as BeamlineEvent<"quota.expired">).data;
      return {
        ...base,
        step: `quota expired #${d.attempt}`,
        tokens: String(d.released.tokens),
        cost: formatNanoUsd(d.released.costNanoUsd),
        outcome: "reservation handed back",
      };
    }
    default:
      return { ...base, step: event.type, outcome: "" };
  }
}

/** The record's envelope with its decrypted content fields put back, when it has them. */
function openedEnvelope(record: HistoryRecord): HistoryRecord["envelope"] {
  const opened = record.content?.data;
  if (!opened) return record.envelope;
  const { atRest: _sealed, ...rest } = record.envelope.data as Record<string, unknown>;
  return { ...record.envelope, data: { ...rest, ...opened } };
}

/**
 * A request's recorded events (from {@link readTenantHistory} with a request id) as timeline
 * steps, in the order given; offsets count from the request's `request.accepted`.
 */
export function requestTimeline(records: readonly HistoryRecord[]): TimelineStep[] {
  const events = records.map((record) => ({ record, event: upcastAndValidate(openedEnvelope(record)) }));
  const accepted = events.find(({ event }) => event.type === "request.accepted")?.event.time;
  const origin = accepted !== undefined ? Date.parse(accepted) : undefined;
  return events.map(({ record, event }) => {
    const { at, ...step } = describe(event);
    // Content a reader could not open is named, so "no prompt shown" is never mistaken for "none sent".
    const state = record.content?.state;
    if (state && state !== "clear" && state !== "decrypted") {
      step.outcome = `${step.outcome}${step.outcome ? ", " : ""}content ${state}`;
    }
    return {
      ...step,
      offsetMs: origin !== undefined ? Date.parse(at) - origin : undefined,
      ref: `${record.stream}#${record.seq}`,
    };
  });
}

const ms = (value: number | undefined, sign = false) =>
  value === undefined ? undefined : `${sign && value >= 0 ? "+" : ""}${Math.round(value)} ms`;

/** The timeline's table rows: offset, duration, step, provider/model, tokens, cost, outcome, stored at. */
export function timelineRows(steps: readonly TimelineStep[]): Array<Array<string | undefined>> {
  return steps.map((s) => [
    ms(s.offsetMs, true),
    ms(s.durationMs),
    s.step,
    s.target,
    s.tokens,
    s.cost,
    s.outcome,
    s.ref,
  ]);
}

/** Column headers of {@link timelineRows}. */
export const TIMELINE_HEADERS = [
  "offset",
  "duration",
  "step",
  "provider/model",
  "tokens",
  "cost (USD)",
  "outcome",
  "stored",
] as const;
