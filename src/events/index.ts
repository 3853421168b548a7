export type { Clock } from "./clock.js";
export type { BeamlineEvent, EncodedEvent, HeaderReader } from "./codec.js";
export {
  CBOR_CONTENT_TYPE,
  decodeEnvelope,
  decodeEvent,
  EventHeaders,
  encodeEvent,
  isEvent,
  JSON_CONTENT_TYPE,
  upcastAndValidate,
} from "./codec.js";
export type { AtRest, ContentBinding, ContentMode, ContentState } from "./content.js";
export { atRestSchema, ContentFields, contentAad, requireContent, splitContent } from "./content.js";
export type { Envelope } from "./envelope.js";
export { envelopeSchema } from "./envelope.js";
export type { EventContext } from "./factory.js";
export { causedBy, makeEvent } from "./factory.js";
export type { EventData, EventType, EventTypeSpec, Upcaster } from "./registry.js";
export { EventTypes, isEventType } from "./registry.js";
export {
  apiKeyIdFilter,
  apiKeySubject,
  attemptSubject,
  configSubject,
  deadLetterSubject,
  LEGACY_API_KEY_FILTER,
  legacyApiKeySubject,
  quotaSubject,
  RequestSlots,
  requestHistoryFilter,
  requestSubject,
  SubjectRoots,
  slotFilter,
  tenantApiKeyFilter,
  tenantHistoryFilter,
  tenantQuotaFilter,
  tenantUsageFilter,
  usageSubject,
} from "./subjects.js";
export { assertRequestId, assertTenantId, formatRequestId, isSafeToken } from "./tokens.js";
