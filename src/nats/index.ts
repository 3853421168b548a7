/**
 * The NATS adapter layer: connection and version floor, the event store and JetStream
 * publisher, the durable-consumer runner, KV views and folds, log reads, and the names of
 * streams, consumers and buckets.
 */

export { coalesceWrites, connectNats, inboxFor } from "./connect.js";
export { type ConnectionPhase, ConnectionState } from "./connection-state.js";
export { type ConsumerLag, readConsumerLag } from "./consumer-lag.js";
export type { Delivery, RunningStage, StageHandler } from "./consumer-runner.js";
export { LIVE_PULL_TIMING, runStage } from "./consumer-runner.js";
export type { EventCodec } from "./event-codec.js";
export { plainCodec } from "./event-codec.js";
export type { EventSigningKey, EventSigningSettings, EventTrust, SignedMessage } from "./event-signing.js";
export { EventSigner, eventSigningKeyFile, loadEventSigningKey, SIGNATURE_HEADER } from "./event-signing.js";
export type {
  AppendResult,
  DecodedStoredEvent,
  OnceResult,
  PreparedAppend,
  StoredEventMessage,
  StorePublisher,
} from "./event-store.js";
export { decodeStoredEvent, EventStore, prepareAppend } from "./event-store.js";
export { failpoint } from "./failpoints.js";
export {
  fromHealthToken,
  HEALTH_KEY_FILTER,
  HEALTH_SUBJECT_ROOT,
  healthKey,
  healthSubject,
  healthToken,
  probeKey,
} from "./health-keys.js";
export {
  createKvFolder,
  decodeRecord,
  foldIntoKv,
  isRevisionConflict,
  type KvFolder,
} from "./kv-fold.js";
export type { FollowedKvWatch, FollowKvWatchOptions, KvView } from "./kv-view.js";
export { followKvWatch, jsonValue, watchKvView } from "./kv-view.js";
export { getFromLeader, type StoredMessageQuery } from "./leader-reads.js";
export { LiveChannel, type LiveNotice, type LiveReceiver, type OutgoingNotice } from "./live-channel.js";
export { headersOf, type MessageHeaders, parseHeaderBlock, rawHeaderBlock } from "./message-headers.js";
export { ConsumerNames, KvBuckets, StreamNames } from "./names.js";
export {
  ackFloorReached,
  ORDERED_FOLD_GROUP,
  ORDERED_FOLD_MAX_PENDING,
  ORDERED_FOLD_PIN_TIMEOUT_MS,
  resetToAckFloorIfHeld,
} from "./ordered-fold.js";
export { outgoingHeaders } from "./outgoing-headers.js";
export type { StoredEvent, StoredMessage } from "./read-events.js";
export { readEvents, readStream, storedMessage } from "./read-events.js";
export { retryTransientStart, type StartRetryOptions } from "./start-retry.js";
export { isPermissionDenied, isTransientNatsError, isWrongLastSequence } from "./transient.js";
export { TransientBackoff } from "./transient-backoff.js";
export { compareVersions, MIN_NATS_SERVER_VERSION } from "./version.js";
export { appendNextVersion, contentDigest, readLastWithSequence } from "./versioned-append.js";
