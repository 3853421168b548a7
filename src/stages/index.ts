export { billingStage, isBillable } from "./billing.js";
export type { AcceptedEvent, BillingDeps, StageDeps, TerminalEvent, WorkerDeps } from "./context.js";
export { endRequest, notifyTerminal } from "./context.js";
export { LiveHeaders, LiveKinds } from "./live.js";
export { requestWorker } from "./request-worker.js";
