import type { ModelCatalog } from "../catalog/index.js";
import type { ChatRequest } from "../chat/wire.js";
import { BeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";

export type RouteDecision = EventData<"route.decided">;

/**
 * The walking skeleton's policy: the requested model (id or alias) names exactly one
 * catalog entry, which becomes the only candidate. Pure: the same request and catalog
 * always give the same decision, so decisions replay.
 */
export function decideRoute(request: Pick<ChatRequest, "model">, catalog: ModelCatalog): RouteDecision {
  const model = catalog.resolve(request.model);
  if (!model) {
    throw new BeamlineError(
      "BL_UNKNOWN_MODEL",
      `The model \`${request.model}\` does not exist or is not available here; GET /v1/models lists the models you can use.`,
      { param: "model" },
    );
  }
  return {
    policy: "catalog-direct",
    catalogVersion: catalog.version,
    candidates: [
      {
        provider: model.provider,
        model: model.id,
        upstreamModel: model.upstreamModel,
        score: 1,
        reason: request.model === model.id ? "requested model" : `alias ${request.model}`,
      },
    ],
  };
}
