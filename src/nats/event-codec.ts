import {
  type BeamlineEvent,
  decodeEvent,
  type EncodedEvent,
  encodeEvent,
  type HeaderReader,
} from "../events/index.js";

/**
 * How the event store turns events into stored bytes and back. The plain codec stores events
 * as they are; the content vault (`src/vault`) seals prompts and completions on the way in and
 * opens them on the way out, so stages never see the difference.
 */
export interface EventCodec {
  encode(event: BeamlineEvent): EncodedEvent | Promise<EncodedEvent>;
  /**
   * `open: false` skips opening sealed content: the event comes back with its content fields
   * absent and `atRest` set, which is all a reader of metadata (billing, projectors) needs.
   */
  decode(
    payload: Uint8Array,
    headers: HeaderReader | undefined,
    options?: {
      open?: boolean;
      /**
       * The caller found the message's `bl-sig` valid for this deployment's key: an event at
       * its type's current version is taken as written (the factory validated it before it
       * was signed). Anything else is still upcast and validated.
       */
      trusted?: boolean;
    },
  ): Promise<BeamlineEvent>;
}

/** Stores events as they are (no content sealing). */
export const plainCodec: EventCodec = {
  encode: encodeEvent,
  decode: async (payload, headers, options) =>
    decodeEvent(payload, headers, { trusted: options?.trusted === true }),
};
