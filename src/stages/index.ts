export { billingStage, isBillable } from "./billing.js";
export type { AcceptedEvent, BillingDeps, StageDeps, TerminalEvent, WorkerDeps } from "./context.js";
export { endRequest, notifyTerminal } from "./context.js";
export type { EnvelopeRejection, EnvelopeVerdict } from "./envelope.js";
export { checkEnvelope, EnvelopeRejections, isReplyToAllowed } from "./envelope.js";
export type { IngressDeps } from "./ingress.js";
export { ingressStage } from "./ingress.js";
export { LiveHeaders, LiveKinds } from "./live.js";
export { requestWorker } from "./request-worker.js";
