export type { PolicyEvaluation, PolicyInputs, RouteDecision, ScoredCandidate } from "./policy/index.js";
export { decideWithPolicy, evaluatePolicy, recomputeDecision, verifyDecision } from "./policy/index.js";
