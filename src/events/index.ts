export { decodeEvent, encodeEvent, isEvent, upcastAndValidate, EventHeaders, CBOR_CONTENT_TYPE, JSON_CONTENT_TYPE } from "./codec.js";
export type { BeamlineEvent, EncodedEvent, HeaderReader } from "./codec.js";
export { envelopeSchema } from "./envelope.js";
export type { Envelope } from "./envelope.js";
export { causedBy, makeEvent } from "./factory.js";
export type { EventContext } from "./factory.js";
export { EventTypes, isEventType } from "./registry.js";
export type { EventData, EventType, EventTypeSpec, Upcaster } from "./registry.js";
export {
  RequestSlots,
  SubjectRoots,
  attemptSubject,
  configSubject,
  deadLetterSubject,
  requestHistoryFilter,
  requestSubject,
  slotFilter,
  tenantHistoryFilter,
  tenantUsageFilter,
  usageSubject,
} from "./subjects.js";
export { assertRequestId, assertTenantId, isSafeToken, newRequestId } from "./tokens.js";
