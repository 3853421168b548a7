export type { AdminRoutes, AdminScopeOptions, PolicyAdminDeps } from "./admin/index.js";
export {
  ADMIN_PREFIX,
  registerAdminRoutes,
  registerPolicyAdminRoutes,
  tenancyAdminRoutes,
} from "./admin/index.js";
export type { AuthViews, Principal } from "./auth.js";
export { assertModelAllowed, authenticate, extractApiKey, registerAuthHooks } from "./auth.js";
export { parseChatRequest } from "./chat-completions.js";
export { GatewayDrain } from "./drain.js";
export { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
export type { ExtensionRef, RequestFailure } from "./failure-answer.js";
export { failureHeaders } from "./failure-answer.js";
export { IDEMPOTENCY_HEADER, idempotentRequestId, requestFingerprint } from "./idempotency.js";
export type { MetricsListenerDeps } from "./metrics-listener.js";
export { buildMetricsListener } from "./metrics-listener.js";
export type { ModelListEntry, ModelViews } from "./model-check.js";
export { assertKnownModel, isResolvableModel, listModels } from "./model-check.js";
export type { AuthFailureLimits } from "./operator-auth.js";
export { AuthFailureLimiter, bearerTokenMatches } from "./operator-auth.js";
export type { GatewayDeps } from "./server.js";
export { buildGateway } from "./server.js";
export {
  type LostReplyRecovery,
  type ReadTerminal,
  type TerminalDelivery,
  terminalSlotReader,
  type Waiter,
  WaiterRegistry,
} from "./waiters.js";
