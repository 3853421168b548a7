import { computeCost } from "../catalog/index.js";
import type { ChatRequest } from "../chat/index.js";
import type { EventData } from "../events/index.js";
import type { AttemptRecord, ExecutionHooks, HedgeSettings, HedgeTicket } from "../execution/index.js";
import type { HedgePolicy } from "../routing/index.js";
import { countPromptTokens, tokenizerFor } from "../tokens/index.js";
import type { WorkerDeps } from "./context.js";
import type { DecidedEvent } from "./route.js";

/** What the executor needs to hedge a request: the settings and the caps' hooks. */
export interface Hedging {
  settings: HedgeSettings;
  hooks: Pick<ExecutionHooks, "reserveHedge" | "settleHedge">;
}

/**
 * The hedging of one request under the tenant's policy, or undefined when it does not hedge.
 * The deadline's percentile reads this instance's observed latencies; the caps, when the policy
 * sets any, are held in the tenant's quota log (HedgeLedger) so they bind every instance.
 */
export function hedgingFor(
  deps: WorkerDeps,
  decided: DecidedEvent,
  request: ChatRequest,
  policy: HedgePolicy | undefined,
): Hedging | undefined {
  if (!policy) return undefined;
  const latency = deps.execution.latency;
  const settings: HedgeSettings = {
    policy,
    ...(latency ? { latencies: (p: string, m: string, s: boolean) => latency.samples(p, m, s) } : {}),
  };
  const capped = policy.maxHedgesPerMinute !== undefined || policy.maxExtraCostUsdPerDay !== undefined;
  if (!capped) return { settings, hooks: {} };
  const ledger = deps.hedges;
  return {
    settings,
    hooks: {
      async reserveHedge(ticket) {
        // Without the shared ledger a cap cannot be held across instances: no hedge at all.
        if (!ledger)
          return {
            granted: false,
            reason:
              policy.maxHedgesPerMinute !== undefined ? "max_hedges_per_minute" : "max_extra_cost_per_day",
          };
        return ledger.reserve(decided, policy, {
          attempt: ticket.attempt,
          provider: ticket.candidate.provider,
          model: ticket.candidate.model,
          estimateNanoUsd: hedgeEstimateNanoUsd(deps, decided, request, ticket),
        });
      },
      async settleHedge(ticket, extra) {
        await ledger?.settle(decided, hedgeSettlement(deps, ticket, extra));
      },
    },
  };
}

/**
 * The extra cost held for a hedge before it starts: the prompt, which a cancelled call is
 * charged for whichever attempt loses, at the dearer input price of the pair. What a loser
 * streamed before its cancellation is settled afterwards, at its real count.
 */
function hedgeEstimateNanoUsd(
  deps: WorkerDeps,
  decided: DecidedEvent,
  request: ChatRequest,
  ticket: HedgeTicket,
): number {
  const catalog = deps.catalog();
  const pair = [decided.data.candidates[0], ticket.candidate].filter((c) => c !== undefined);
  const inputPerMTokUsd = Math.max(
    0,
    ...pair.map((c) => catalog.resolve(c.model)?.prices.inputPerMTokUsd ?? 0),
  );
  const promptTokens = countPromptTokens(tokenizerFor(ticket.candidate), request);
  return computeCost(
    { prices: { inputPerMTokUsd, outputPerMTokUsd: 0 } },
    { promptTokens, completionTokens: 0, cachedTokens: 0 },
  ).costNanoUsd;
}

/** The settlement of a hedge: the usage of the attempt that did not answer, priced. */
function hedgeSettlement(
  deps: WorkerDeps,
  ticket: HedgeTicket,
  extra: AttemptRecord | undefined,
): EventData<"hedge.settled"> {
  if (!extra) return { attempt: ticket.attempt, costNanoUsd: 0, estimated: false };
  const usage = extra.data.usage;
  const model = deps.catalog().resolve(extra.data.model);
  return {
    attempt: ticket.attempt,
    costNanoUsd: usage && model ? computeCost(model, usage).costNanoUsd : 0,
    extraAttempt: extra.data.attempt,
    estimated: extra.type === "attempt.failed" && extra.data.usageEstimated === true,
  };
}
