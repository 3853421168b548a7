export type { Principal } from "./auth.js";
export { authenticate, extractApiKey } from "./auth.js";
export { parseChatRequest } from "./chat-completions.js";
export { fromHttpFrameworkError, openAiErrorBody } from "./error-body.js";
export type { GatewayDeps } from "./server.js";
export { buildGateway } from "./server.js";
export { WaiterRegistry } from "./waiters.js";
