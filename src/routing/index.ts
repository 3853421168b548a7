export { routeDecidedV1 } from "./policy/decision-schema.js";
export type { HedgePolicy, PolicyDocument } from "./policy/document.js";
export { policyDocumentSchema } from "./policy/document.js";
export { AUTO_MODEL, kindFor, modelKindMismatch } from "./policy/engine.js";
export type {
  DecisionVerification,
  HealthSnapshot,
  Operation,
  PolicyEvaluation,
  PolicyInputs,
  RouteDecision,
  ScoredCandidate,
  VersionedPolicy,
} from "./policy/index.js";
export {
  DECIDED_FIELDS,
  DEFAULT_POLICY_ID,
  decideWithPolicy,
  defaultPolicy,
  EMPTY_HEALTH,
  evaluatePolicy,
  healthKey,
  NO_QUOTA,
  parsePolicyDocument,
  recomputeDecision,
  verifyDecision,
} from "./policy/index.js";
export type { ExtensionStage, Pipeline, PipelineStep } from "./policy/pipeline-schema.js";
export { ExtensionStages, pipelineSchema, pipelineStepSchema } from "./policy/pipeline-schema.js";
