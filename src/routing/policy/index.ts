export type { Exclusion, ExclusionReason } from "./constraints.js";
export { ExclusionReasons } from "./constraints.js";
export type { DecisionVerification, RecordedDecisionSources } from "./decision.js";
export {
  DECIDED_FIELDS,
  decideWithPolicy,
  recomputeDecision,
  toRouteDecision,
  verifyDecision,
} from "./decision.js";
export type { RouteDecision } from "./decision-schema.js";
export type {
  AliasTarget,
  PolicyDocument,
  PolicyDocumentInput,
  RoutingConstraints,
  Strategy,
  StrategyType,
  VersionedPolicy,
} from "./document.js";
export {
  DEFAULT_POLICY_ID,
  defaultPolicy,
  parsePolicyDocument,
  policyDocumentSchema,
  policyId,
  StrategyTypes,
} from "./document.js";
export type { Operation, PolicyEvaluation, PolicyInputs, Resolution, ScoredCandidate } from "./engine.js";
export { AUTO_MODEL, evaluatePolicy, kindFor, modelKindMismatch } from "./engine.js";
export type { BreakerState, HealthSnapshot, ModelHealth, QuotaState } from "./inputs.js";
export { EMPTY_HEALTH, healthKey, healthSnapshotSchema, NO_QUOTA, quotaStateSchema } from "./inputs.js";
export type { AnalysedRequest, RequestNeeds } from "./request-needs.js";
export { analyseRequest, requiredCapabilities } from "./request-needs.js";
