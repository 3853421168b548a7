import type { CatalogModel, ModelCatalog, ModelKind } from "../../catalog/index.js";
import { computeCost } from "../../catalog/index.js";
import type { ChatRequest } from "../../chat/index.js";
import { BeamlineError } from "../../errors/index.js";
import { type Exclusion, ExclusionReasons, firstViolation, type ModelFacts } from "./constraints.js";
import type { Strategy, VersionedPolicy } from "./document.js";
import { type HealthSnapshot, healthKey, type QuotaState } from "./inputs.js";
import { analyseRequest, type RequestNeeds } from "./request-needs.js";
import { rankByStrategy } from "./strategies.js";

/** Everything a routing decision depends on. Nothing else (no clock, no randomness) is read. */
export interface PolicyInputs {
  request: ChatRequest;
  policy: VersionedPolicy;
  catalog: ModelCatalog;
  health: HealthSnapshot;
  quota: QuotaState;
  /** Per-request seed (the worker passes the request id): decides splits when no sticky key exists. */
  seed: string;
  /**
   * What the request asks for; absent means `chat`. Only models of the matching catalog kind
   * are considered: `request` is then the embeddings request's routing view (src/chat).
   */
  operation?: Operation | undefined;
}

/** What a request asks a model for. */
export type Operation = "chat" | "embeddings";

/** The catalog kind of model that serves `operation`. */
export function kindFor(operation: Operation | undefined): ModelKind {
  return operation === "embeddings" ? "embedding" : "chat";
}

/**
 * `BL_MODEL_KIND_MISMATCH` (400, param `model`) for a request naming a model that cannot serve
 * its operation: an embedding model for chat, or a chat model for embeddings.
 */
export function modelKindMismatch(model: string, operation: Operation | undefined): BeamlineError {
  const message =
    operation === "embeddings"
      ? `The model \`${model}\` is not an embedding model; POST /v1/embeddings needs one (GET /v1/models lists them).`
      : `The model \`${model}\` is an embedding model and cannot answer chat requests; use POST /v1/embeddings.`;
  return new BeamlineError("BL_MODEL_KIND_MISMATCH", message, { param: "model" });
}

export interface ScoredCandidate {
  provider: string;
  model: string;
  upstreamModel: string;
  /** Strategy score, 0..1, higher is better. Open-breaker candidates keep their score but rank last. */
  score: number;
  reason: string;
  estimatedCostNanoUsd: number;
  breaker: "closed" | "open" | "half_open";
}

/** How the requested `model` was understood. */
export type Resolution = "auto" | "tenant-alias" | "catalog";

export interface PolicyEvaluation {
  requestedModel: string;
  resolution: Resolution;
  strategy: Strategy;
  needs: RequestNeeds;
  /** Ranked best first; never empty. */
  candidates: ScoredCandidate[];
  excluded: Exclusion[];
}

/** The request `model` that asks the tenant's policy to choose among every allowed model. */
export const AUTO_MODEL = "auto";

/**
 * Open breakers rank last. A half-open one keeps its strategy position: its probe must be able
 * to happen while healthy fallbacks keep succeeding (ranked after them it would never be
 * called, and the breaker would never close). The executor's breaker gate lets at most
 * `halfOpenMaxProbes` requests through across instances and skips it for the others.
 */
const BREAKER_RANK = { closed: 0, half_open: 0, open: 1 } as const;

interface Target {
  resolution: Resolution;
  strategy: Strategy;
  /** Models to consider, in a stable order; names the catalog lacks are reported, not considered. */
  names: string[] | "all";
}

function resolveTarget(requested: string, policy: VersionedPolicy, catalog: ModelCatalog): Target {
  const routing = policy.document.routing;
  const alias = Object.hasOwn(routing.aliases, requested) ? routing.aliases[requested] : undefined;
  if (alias) {
    const strategy: Strategy =
      alias.strategy ?? (alias.models ? { type: "priority", order: alias.models } : routing.strategy);
    return { resolution: "tenant-alias", strategy, names: alias.models ?? "all" };
  }
  if (requested === AUTO_MODEL) return { resolution: "auto", strategy: routing.strategy, names: "all" };
  const model = catalog.resolve(requested);
  if (!model) {
    throw new BeamlineError(
      "BL_UNKNOWN_MODEL",
      `The model \`${requested}\` does not exist or is not available here; GET /v1/models lists the models you can use.`,
      { param: "model" },
    );
  }
  // A concrete model (or catalog alias) is honoured as asked: constraints still apply.
  return { resolution: "catalog", strategy: { type: "priority", order: [model.id] }, names: [model.id] };
}

/** Completion tokens priced for estimates: what the request asks for, else the policy's assumption within the model's limit. */
function outputTokensForEstimate(model: CatalogModel, needs: RequestNeeds, assumed: number): number {
  if (model.kind === "embedding") return 0; // an embedding answers vectors, no tokens
  if (needs.requestedOutputTokens !== undefined) return needs.requestedOutputTokens;
  return Math.min(assumed, model.maxOutputTokens ?? assumed);
}

/**
 * The policy engine: a pure function of its inputs. Resolves the requested model through the
 * tenant's aliases and the catalog, excludes every model that breaks a constraint (recording
 * why), ranks the rest by the strategy, and moves models whose breaker is open to the end.
 *
 * Throws `BL_UNKNOWN_MODEL` for a name neither the policy nor the catalog knows, and
 * `BL_NO_ELIGIBLE_MODEL` (listing every exclusion) when no model survives the constraints.
 */
export function evaluatePolicy(inputs: PolicyInputs): PolicyEvaluation {
  const { request, policy, catalog, health, quota } = inputs;
  const constraints = policy.document.routing.constraints;
  const target = resolveTarget(request.model, policy, catalog);
  const kind = kindFor(inputs.operation);
  if (target.resolution === "catalog" && catalog.resolve(request.model)?.kind !== kind) {
    throw modelKindMismatch(request.model, inputs.operation);
  }
  const excluded: Exclusion[] = [];
  const considered: CatalogModel[] = [];
  const seen = new Set<string>();
  // "Every model" means every model of the right kind: the others are not candidates at all.
  const names =
    target.names === "all" ? catalog.models.filter((m) => m.kind === kind).map((m) => m.id) : target.names;
  for (const name of names) {
    const model = catalog.resolve(name);
    if (!model) {
      excluded.push({
        provider: "",
        model: name,
        reason: ExclusionReasons.notInCatalog,
        detail: `catalog ${catalog.version} has no model ${name}`,
      });
      continue;
    }
    if (seen.has(model.id)) continue;
    seen.add(model.id);
    if (model.kind !== kind) {
      excluded.push({
        provider: model.provider,
        model: model.id,
        reason: ExclusionReasons.wrongKind,
        detail: `a ${model.kind} model cannot serve ${inputs.operation ?? "chat"}`,
      });
      continue;
    }
    considered.push(model);
  }
  const analysed = analyseRequest(request, considered);
  const { promptTokensFor, ...needs } = analysed;
  const eligible: ModelFacts[] = [];
  for (const model of considered) {
    const promptTokens = promptTokensFor(model);
    const cost = computeCost(model, {
      promptTokens,
      completionTokens: outputTokensForEstimate(model, needs, constraints.assumedOutputTokens),
      cachedTokens: 0,
    });
    const facts: ModelFacts = {
      model,
      promptTokens,
      estimatedCostNanoUsd: cost.costNanoUsd,
      health: health.models[healthKey(model.provider, model.id)],
    };
    const violation = firstViolation(facts, {
      needs,
      constraints,
      strategy: target.strategy,
      remainingSpendNanoUsd: quota.remainingSpendNanoUsd,
    });
    if (violation) excluded.push(violation);
    else eligible.push(facts);
  }
  if (eligible.length === 0) {
    const reasons = excluded.map(
      (e) => `${e.provider ? `${e.provider}/` : ""}${e.model}: ${e.reason} (${e.detail})`,
    );
    throw new BeamlineError(
      "BL_NO_ELIGIBLE_MODEL",
      `No model can serve \`${request.model}\` under the tenant's policy: ${reasons.length > 0 ? reasons.join("; ") : "the policy lists no models"}.`,
      { param: "model" },
    );
  }
  const ranked = rankByStrategy(eligible, target.strategy, {
    stickyKey: stickyKeyOf(request, target.strategy),
    seed: inputs.seed,
  });
  const candidates = ranked.map(({ facts, score, reason }) => {
    const breaker = facts.health?.breaker ?? "closed";
    return {
      provider: facts.model.provider,
      model: facts.model.id,
      upstreamModel: facts.model.upstreamModel,
      score,
      reason:
        breaker === "open"
          ? `${reason}; breaker open, ranked after healthy models`
          : breaker === "half_open"
            ? `${reason}; breaker half-open, tried only with a probe slot`
            : reason,
      estimatedCostNanoUsd: facts.estimatedCostNanoUsd,
      breaker,
    };
  });
  // Stable sort: closed and half-open first, open last, each group in strategy order.
  candidates.sort((a, b) => BREAKER_RANK[a.breaker] - BREAKER_RANK[b.breaker]);
  return {
    requestedModel: request.model,
    resolution: target.resolution,
    strategy: target.strategy,
    needs,
    candidates,
    excluded,
  };
}

/** The caller key a weighted split sticks to: `user`, or `metadata.conversation_id`. */
function stickyKeyOf(request: ChatRequest, strategy: Strategy): string | undefined {
  if (strategy.type !== "weighted") return undefined;
  if (strategy.stickyBy === "user")
    return typeof request.user === "string" && request.user !== "" ? request.user : undefined;
  const metadata = (request as { metadata?: unknown }).metadata;
  if (metadata && typeof metadata === "object") {
    const id = (metadata as Record<string, unknown>).conversation_id;
    if (typeof id === "string" && id !== "") return id;
  }
  return undefined;
}
