export type { AdminRoutes, AdminScopeOptions } from "./admin/index.js";
export { ADMIN_PREFIX, registerAdminRoutes, tenancyAdminRoutes } from "./admin/index.js";
export type { AuthViews, Principal } from "./auth.js";
export { assertModelAllowed, authenticate, extractApiKey, registerAuthHooks } from "./auth.js";
export { parseChatRequest } from "./chat-completions.js";
export { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
export type { GatewayDeps } from "./server.js";
export { buildGateway } from "./server.js";
export { WaiterRegistry } from "./waiters.js";
