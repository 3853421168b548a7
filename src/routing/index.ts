export type { RouteDecision } from "./decide.js";
export { decideRoute } from "./decide.js";
export type { PolicyEvaluation, PolicyInputs, ScoredCandidate } from "./policy/index.js";
export { decideWithPolicy, evaluatePolicy, recomputeDecision, verifyDecision } from "./policy/index.js";
