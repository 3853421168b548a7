export type { RouteDecision } from "./decide.js";
export { decideRoute } from "./decide.js";
