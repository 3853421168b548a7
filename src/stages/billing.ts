import { ConsumerNames, StreamNames } from "../../streams/definitions.js";
import { computeCost } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  type EventData,
  isEvent,
  makeEvent,
  usageSubject,
} from "../events/index.js";
import { contextFromTraceparent, endSpan, startSpan, traceparentOf } from "../observability/index.js";
import type { StageDeps } from "./context.js";
import type { StageHandler } from "./runner.js";

/**
 * billing: terminal event → exactly one usage.recorded per billable result on the usage
 * stream. A request is billable when a provider produced tokens (a completed request, or a
 * failed stream that had already produced some). The usage subject is write-once per
 * request, so redeliveries and racing instances can never bill twice.
 */
export function billingStage(deps: StageDeps): StageHandler {
  return {
    name: ConsumerNames.billing,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent) {
      let outcome: "completed" | "failed";
      let usage: EventData<"request.completed">["usage"] | undefined;
      let provider: string | undefined;
      let model: string | undefined;
      let apiKeyId: string | undefined;
      if (isEvent(event, "request.completed")) {
        outcome = "completed";
        ({ usage, provider, model, apiKeyId } = event.data);
      } else if (isEvent(event, "request.failed")) {
        outcome = "failed";
        ({ usage, provider, model, apiKeyId } = event.data);
      } else {
        return;
      }
      if (!usage || !provider || !model || usage.promptTokens + usage.completionTokens === 0) return;
      const span = startSpan("beamline.billing", contextFromTraceparent(event.traceparent), "consumer", {
        "beamline.tenant": event.tenant,
        "beamline.request_id": event.requestId,
      });
      try {
        await recordUsage(event, outcome, usage, provider, model, apiKeyId, traceparentOf(span));
        endSpan(span);
      } catch (error) {
        endSpan(span, error as Error);
        throw error;
      }
    },
  };

  async function recordUsage(
    event: BeamlineEvent,
    outcome: "completed" | "failed",
    usage: EventData<"request.completed">["usage"],
    provider: string,
    model: string,
    apiKeyId: string | undefined,
    traceparent: string | undefined,
  ): Promise<void> {
    const catalogModel = deps.catalog.resolve(model);
    if (!catalogModel) {
      throw new BeamlineError(
        "BL_CONFIG_INVALID",
        `cannot price ${event.tenant}/${event.requestId}: model ${model} is not in catalog ${deps.catalog.version}`,
      );
    }
    const cost = computeCost(catalogModel, usage);
    const prices = {
      inputPerMTokUsd: catalogModel.prices.inputPerMTokUsd,
      outputPerMTokUsd: catalogModel.prices.outputPerMTokUsd,
      cachedInputPerMTokUsd: catalogModel.prices.cachedInputPerMTokUsd ?? catalogModel.prices.inputPerMTokUsd,
    };
    const data: EventData<"usage.recorded"> = {
      outcome,
      provider,
      model,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedTokens: usage.cachedTokens,
      ...cost,
      catalogVersion: deps.catalog.version,
      prices,
    };
    if (apiKeyId !== undefined) data.apiKeyId = apiKeyId;
    const recorded = makeEvent(
      "usage.recorded",
      `${event.requestId}:usage`,
      causedBy(event, traceparent),
      data,
      deps.now(),
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
    }
  }
}
