import {
  computeCost,
  discountedCost,
  type ModelCatalog,
  priceExtras,
  recordedPrices,
  sumCosts,
} from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  type EventData,
  isEvent,
  makeEvent,
  usageSubject,
} from "../events/index.js";
import type { StageHandler } from "../nats/index.js";
import { ConsumerNames, StreamNames } from "../nats/index.js";
import { contextFromTraceparent, endSpan, startSpan, traceparentOf } from "../observability/index.js";
import { type BillingDeps, stageNow, type TerminalEvent } from "./context.js";

/**
 * billing: terminal event → exactly one usage.recorded per billable result on the usage
 * stream, priced with the catalog version the request was routed with (a hedge's cancelled
 * loser on the same record, as `extra`, its cost in the total); and the request's
 * quota reservation settled to what it actually used. A request is billable when a provider
 * produced tokens (a completed request, or a failed one that had already produced some).
 * The usage subject and the settlement are write-once per request, so redeliveries and
 * racing instances can never bill or count twice.
 */
export function billingStage(deps: BillingDeps): StageHandler {
  return {
    name: ConsumerNames.billing,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent) {
      if (!isEvent(event, "request.completed") && !isEvent(event, "request.failed")) return;
      const terminal: TerminalEvent = event;
      const span = startSpan("beamline.billing", contextFromTraceparent(event.traceparent), "consumer", {
        "beamline.tenant": event.tenant,
        "beamline.request_id": event.requestId,
      });
      try {
        const catalog = await deps.catalogAt(terminal.data.catalogVersion);
        if (terminal.data.quotaReserved) {
          if (!catalog) throw unpriceable(terminal, "settle its quota");
          await deps.quotas.settle(terminal, catalog);
        }
        await recordUsage(terminal, catalog, traceparentOf(span));
        endSpan(span);
      } catch (error) {
        endSpan(span, error as Error);
        throw error;
      }
    },
  };

  async function recordUsage(
    event: TerminalEvent,
    catalog: ModelCatalog | undefined,
    traceparent: string | undefined,
  ): Promise<void> {
    if (!isBillable(event)) return;
    const { usage, provider, model, apiKeyId } = event.data;
    if (!usage || !provider || !model) return;
    const catalogModel = catalog?.resolve(model);
    if (!catalog || !catalogModel) throw unpriceable(event, "price it");
    // A cache hit is billed by the tenant's policy at the time of the hit (free or discounted).
    const hit = event.type === "request.completed" ? cacheHitOf(event) : undefined;
    const cost = hit
      ? discountedCost(computeCost(catalogModel, usage), hit.discountPercent)
      : computeCost(catalogModel, usage);
    // A hedge's cancelled loser is billed on this same record (one record per request).
    const extra = priceExtras(catalog, event.data.hedgeExtra ?? []);
    if ("unknownModel" in extra)
      throw unpriceable(event, `price its hedged attempt on ${extra.unknownModel}`);
    const data: EventData<"usage.recorded"> = {
      outcome: event.type === "request.completed" ? "completed" : "failed",
      provider,
      model,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedTokens: usage.cachedTokens,
      ...sumCosts([cost, ...extra]),
      catalogVersion: catalog.version,
      prices: recordedPrices(catalogModel),
    };
    if (apiKeyId !== undefined) data.apiKeyId = apiKeyId;
    if (hit) {
      data.cached = true;
      data.cacheDiscountPercent = hit.discountPercent;
    }
    if (extra.length > 0) data.extra = extra;
    const recorded = makeEvent(
      "usage.recorded",
      `${event.requestId}:usage`,
      causedBy(event, traceparent),
      data,
      stageNow(deps),
    );
    const result = await deps.store.append(usageSubject(event.tenant, event.requestId), recorded, {
      once: true,
    });
    if (!result.duplicate) {
      const labels = { tenant: event.tenant, provider, model };
      deps.metrics.tokens.inc({ ...labels, kind: "prompt" }, usage.promptTokens);
      deps.metrics.tokens.inc({ ...labels, kind: "completion" }, usage.completionTokens);
      deps.metrics.tokens.inc({ ...labels, kind: "cached" }, usage.cachedTokens);
      deps.metrics.costNanoUsd.inc(labels, cost.costNanoUsd);
      for (const attempt of extra) {
        const extraLabels = { tenant: event.tenant, provider: attempt.provider, model: attempt.model };
        deps.metrics.tokens.inc({ ...extraLabels, kind: "prompt" }, attempt.promptTokens);
        deps.metrics.tokens.inc({ ...extraLabels, kind: "completion" }, attempt.completionTokens);
        deps.metrics.tokens.inc({ ...extraLabels, kind: "cached" }, attempt.cachedTokens);
        deps.metrics.costNanoUsd.inc(extraLabels, attempt.costNanoUsd);
      }
    }
  }
}

/**
 * Whether a terminal event is billed (has exactly one usage record): a provider and model are
 * named and the provider produced tokens. The one rule billing and reconciliation share.
 */
export function isBillable(terminal: TerminalEvent): boolean {
  const { usage, provider, model } = terminal.data;
  return Boolean(usage && provider && model) && usage!.promptTokens + usage!.completionTokens > 0;
}

/**
 * The discount of a terminal event answered from the response cache, or undefined when a
 * provider answered it. Shared by billing, quota settlement and reconciliation.
 */
export function cacheHitOf(terminal: TerminalEvent): { discountPercent: number } | undefined {
  if (terminal.type !== "request.completed") return undefined;
  const cache = (terminal as BeamlineEvent<"request.completed">).data.cache;
  return cache?.status === "hit" ? { discountPercent: cache.discountPercent ?? 100 } : undefined;
}

/** Retried, then dead-lettered: a request is never billed with a guessed price. */
function unpriceable(event: TerminalEvent, what: string): BeamlineError {
  return new BeamlineError(
    "BL_CONFIG_INVALID",
    `cannot ${what}: ${event.tenant}/${event.requestId} used ${event.data.model ?? "no model"} of catalog ${event.data.catalogVersion ?? "(none)"}, which is not known here`,
  );
}
