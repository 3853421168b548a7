export type { Clock } from "./clock.js";
export type { BeamlineEvent, EncodedEvent, HeaderReader } from "./codec.js";
export {
  CBOR_CONTENT_TYPE,
  decodeEnvelope,
  decodeEvent,
  decodeTrustedEvent,
  EventHeaders,
  encodeEvent,
  encodeEventWithData,
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
export { jsonNestingExceeds, MAX_EVENT_DEPTH, valueNestingExceeds } from "./nesting.js";
export type { EventData, EventType, EventTypeSpec, Upcaster } from "./registry.js";
export { EventTypes, isEventType } from "./registry.js";
export type { SignatureCheck } from "./signature.js";
export { checkEventSignature, SIGNATURE_HEADER, SIGNING_KEY_MIN_BYTES, signEvent } from "./signature.js";
export {
  apiKeyIdFilter,
  apiKeySubject,
  attemptSubject,
  configSubject,
  deadLetterSubject,
  ingressSubject,
  LEGACY_API_KEY_FILTER,
  legacyApiKeySubject,
  liveInboxPrefix,
  parseIngressSubject,
  producerIdFilter,
  producerSubject,
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
export { rateLimitsSchema } from "./types.js";
export { markValidated, validateEvent } from "./validated.js";
