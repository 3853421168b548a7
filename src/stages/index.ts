export { billingStage } from "./billing.js";
export type { AcceptedEvent, StageDeps, TerminalEvent } from "./context.js";
export { endRequest, loadAccepted, notifyTerminal } from "./context.js";
export { executeStage } from "./execute.js";
export { finishStage } from "./finish.js";
export { LiveHeaders, LiveKinds } from "./live.js";
export { routeStage } from "./route.js";
export type { Delivery, RunningStage, StageHandler, StageRunnerOptions } from "./runner.js";
export { retryDelayMs, runStage } from "./runner.js";
