/**
 * The ids of a Responses API answer are derived from the request id that the event log keys
 * the exchange by, so any gateway instance can find an earlier response or output item in the
 * log (`previous_response_id`, `item_reference`) with no state of its own: the response is
 * `resp_<requestId>`, its assistant message `msg_<requestId>` (a chat completion holds at most
 * one) and its k-th tool call `fc_<requestId>_<k>`, k being the call's index in the completion.
 */

const RESPONSE_PREFIX = "resp_";
const MESSAGE_PREFIX = "msg_";
const FUNCTION_CALL_PREFIX = "fc_";

/** The response id of the request `requestId`. */
export function responseIdOf(requestId: string): string {
  return `${RESPONSE_PREFIX}${requestId}`;
}

/** The request id behind a response id; undefined when `responseId` is not one of Beamline's. */
export function requestIdOfResponse(responseId: string): string | undefined {
  if (!responseId.startsWith(RESPONSE_PREFIX)) return undefined;
  const requestId = responseId.slice(RESPONSE_PREFIX.length);
  return requestId.length > 0 ? requestId : undefined;
}

/** The id of the assistant message item of request `requestId`. */
export function messageItemIdOf(requestId: string): string {
  return `${MESSAGE_PREFIX}${requestId}`;
}

/** The id of the `index`-th function call item of request `requestId`. */
export function functionCallItemIdOf(requestId: string, index: number): string {
  return `${FUNCTION_CALL_PREFIX}${requestId}_${index}`;
}

/** The request an output item id belongs to; undefined when `itemId` is not one of Beamline's. */
export function requestIdOfItem(itemId: string): string | undefined {
  if (itemId.startsWith(MESSAGE_PREFIX)) {
    const requestId = itemId.slice(MESSAGE_PREFIX.length);
    return requestId.length > 0 ? requestId : undefined;
  }
  if (itemId.startsWith(FUNCTION_CALL_PREFIX)) {
    const match = /^(.+)_\d+$/.exec(itemId.slice(FUNCTION_CALL_PREFIX.length));
    return match?.[1];
  }
  return undefined;
}
