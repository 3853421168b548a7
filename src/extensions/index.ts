export {
  type ExtensionStage,
  ExtensionStages,
  type Pipeline,
  type PipelineStep,
  pipelineSchema,
  pipelineStepSchema,
} from "../routing/index.js";
export {
  BuiltinExtensions,
  contentPolicyV1,
  findBuiltin,
  limitV1,
  normalizeV1,
  piiV1,
} from "./builtins/index.js";
export { createDetectors, type PiiKind, PiiKinds } from "./builtins/pii/detectors.js";
export { type MaskStyle, maskText, StreamMasker } from "./builtins/pii/mask.js";
export {
  EXTENSION_CONTRACT_VERSION,
  type ExtensionCall,
  type ExtensionReply,
  extensionCallSchema,
  extensionQueueGroup,
  extensionReplySchema,
  extensionSubject,
} from "./contract.js";
export {
  EXTENSION_OUTCOMES_FILTER,
  type ExtensionAppliedWrite,
  extensionAppliedEvents,
  extensionSlot,
} from "./events.js";
export { createNatsExtensionCaller, type ExternalExtensionCaller } from "./external-client.js";
export { ExtensionError, errorForOutcome, type StepOutcome } from "./outcome.js";
export {
  type ExtensionRegistration,
  type ExtensionResolver,
  extensionRegistrationSchema,
  type ResolvedExtension,
  registrationKey,
  staticResolver,
} from "./registry.js";
export {
  type ExtensionRegistryView,
  openExtensionRegistry,
  registerExtension,
  unregisterExtension,
  watchExtensionRegistry,
} from "./registry-kv.js";
export { type RequestStagesResult, runRequestStages } from "./request-stages.js";
export {
  type ChunkResult,
  createResponseProcessor,
  type ResponseProcessor,
  type ResponseResult,
} from "./response-processor.js";
export type { PipelineContext } from "./run-step.js";
export { builtinSettingsProblems } from "./settings-check.js";
export type { BuiltinExtension, StepVerdict, TextStreamTransform } from "./types.js";
