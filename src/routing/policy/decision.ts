import { type ModelCatalog, withProviders } from "../../catalog/index.js";
import type { ChatRequest } from "../../chat/index.js";
import type { RouteDecision } from "./decision-schema.js";
import { policyId, type VersionedPolicy } from "./document.js";
import { evaluatePolicy, type PolicyEvaluation, type PolicyInputs } from "./engine.js";
import { type HealthSnapshot, healthKey, NO_QUOTA, type QuotaState } from "./inputs.js";

/** The part of a health snapshot a decision can read: entries of catalog models only. */
function healthUsed(health: HealthSnapshot, catalog: ModelCatalog): HealthSnapshot {
  const models: HealthSnapshot["models"] = {};
  for (const model of catalog.models) {
    const key = healthKey(model.provider, model.id);
    const entry = health.models[key];
    if (entry) models[key] = entry;
  }
  return { revision: health.revision, models };
}

/** The `route.decided` data for an evaluation: the ranking plus every input needed to recompute it. */
export function toRouteDecision(inputs: PolicyInputs, evaluation: PolicyEvaluation): RouteDecision {
  const estimate: NonNullable<RouteDecision["estimate"]> = {
    promptTokens: evaluation.needs.promptTokens,
    capabilities: evaluation.needs.capabilities,
  };
  if (evaluation.needs.requestedOutputTokens !== undefined) {
    estimate.requestedOutputTokens = evaluation.needs.requestedOutputTokens;
  }
  const decision: RouteDecision = {
    policy: policyId(inputs.policy),
    policyVersion: inputs.policy.version,
    catalogVersion: inputs.catalog.version,
    requestedModel: evaluation.requestedModel,
    strategy: evaluation.strategy,
    seed: inputs.seed,
    health: healthUsed(inputs.health, inputs.catalog),
    quota: inputs.quota,
    estimate,
    candidates: evaluation.candidates,
    excluded: evaluation.excluded,
  };
  if (inputs.catalog.providers) decision.catalogProviders = [...inputs.catalog.providers];
  if (inputs.operation === "embeddings") decision.operation = "embeddings";
  return decision;
}

/**
 * What the worker's route step calls: evaluates the tenant's policy and returns the
 * `route.decided` data to write. Pure; throws `BL_UNKNOWN_MODEL` or `BL_NO_ELIGIBLE_MODEL`
 * (both `fail-request`).
 */
export function decideWithPolicy(inputs: PolicyInputs): RouteDecision {
  return toRouteDecision(inputs, evaluatePolicy(inputs));
}

/** The inputs a recorded decision does not carry itself: found by the versions it names. */
export interface RecordedDecisionSources {
  request: ChatRequest;
  /** The policy at the version the decision names (`policyVersion`). */
  policy: VersionedPolicy;
  /** The catalog at the version the decision names (`catalogVersion`). */
  catalog: ModelCatalog;
}

/**
 * Recomputes a recorded decision from its request, the policy and catalog it names, and the
 * health, quota state and seed it recorded. A decision made over a catalog restricted to the
 * instance's reachable providers (`catalogProviders`) recomputes over the same restriction of
 * the given catalog. Decisions written before the policy engine (no `seed`) recompute with an
 * empty health snapshot and no quota.
 */
export function recomputeDecision(recorded: RouteDecision, sources: RecordedDecisionSources): RouteDecision {
  const quota: QuotaState = recorded.quota ?? NO_QUOTA;
  const catalog = recorded.catalogProviders
    ? withProviders(sources.catalog, new Set(recorded.catalogProviders))
    : sources.catalog;
  return decideWithPolicy({
    // The request as routed: what pre-processing extensions made of the accepted one, when recorded.
    request: recorded.request ?? sources.request,
    policy: sources.policy,
    catalog,
    health: recorded.health ?? { revision: 0, models: {} },
    quota,
    seed: recorded.seed ?? "",
    operation: recorded.operation,
  });
}

export interface DecisionVerification {
  identical: boolean;
  /** What differs, for people: versions that do not match the sources, or the fields that changed. */
  differences: string[];
}

/**
 * The fields a recomputation must reproduce: the outcome of the decision. The inputs the
 * decision recorded (seed, health, quota, request) are what it is recomputed from, so they
 * agree by construction and are not compared.
 */
export const DECIDED_FIELDS = [
  "policy",
  "requestedModel",
  "strategy",
  "estimate",
  "candidates",
  "excluded",
  "catalogProviders",
] as const satisfies readonly (keyof RouteDecision)[];

/**
 * Checks that a recorded decision replays identically: the sources have the versions it names,
 * and recomputing gives the same candidates, scores, reasons and exclusions.
 */
export function verifyDecision(
  recorded: RouteDecision,
  sources: RecordedDecisionSources,
): DecisionVerification {
  const differences: string[] = [];
  if (recorded.policyVersion !== undefined && recorded.policyVersion !== sources.policy.version) {
    differences.push(`policy version: recorded ${recorded.policyVersion}, given ${sources.policy.version}`);
  }
  if (recorded.catalogVersion !== sources.catalog.version) {
    differences.push(
      `catalog version: recorded ${recorded.catalogVersion}, given ${sources.catalog.version}`,
    );
  }
  if (differences.length > 0) return { identical: false, differences };
  let again: RouteDecision;
  try {
    again = recomputeDecision(recorded, sources);
  } catch (error) {
    return { identical: false, differences: [`recomputing failed: ${(error as Error).message}`] };
  }
  // Compare through JSON: the recorded side went through the event codec.
  for (const field of DECIDED_FIELDS) {
    const before = JSON.stringify(recorded[field]);
    const after = JSON.stringify(again[field]);
    if (before !== after) differences.push(`${field}: recorded ${before}, recomputed ${after}`);
  }
  return { identical: differences.length === 0, differences };
}
