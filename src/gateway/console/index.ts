export type { ConsoleDeps } from "./register.js";
export { registerConsole } from "./register.js";
export type { RequestRow, WindowSummary } from "./request-rows.js";
export { percentile, RecentRequests } from "./request-rows.js";
export { CONSOLE_PATH, consoleLiveRoutes, registerConsolePage } from "./routes.js";
export type { ConsoleSnapshot, ConsoleSourceOptions } from "./snapshots.js";
export { ConsoleSource } from "./snapshots.js";
export type { ConsumerLag, ProviderState, SystemState, TenantSpend, TenantSummary } from "./system-state.js";
