import {
  assistantMessageOf,
  type ChatCompletion,
  type ChatMessage,
  type ChatRequest,
  outputItemsOf,
  previousExchange,
  type ResponsesOutputItem,
  requestIdOfItem,
  requestIdOfResponse,
  responseIdOf,
} from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  type AtRest,
  type BeamlineEvent,
  type EventData,
  isSafeToken,
  RequestSlots,
  requestSubject,
  requireContent,
} from "../events/index.js";
import { type EventStore, StreamNames } from "../nats/index.js";

/**
 * The Responses front door's reads of earlier exchanges: `previous_response_id` and
 * `item_reference`. Both read the event log (the request's `accepted` and terminal slots under
 * the caller's tenant), never gateway memory, so a follow-up works on any gateway instance.
 * Subjects are per tenant: another tenant's id finds nothing and answers exactly like an
 * unknown one, so nothing about it leaks.
 */

const PREVIOUS = "previous_response_id";

/** One slot of a request, when Beamline wrote it (signed), content opened where a key allows. */
async function readSlot(
  store: EventStore,
  tenant: string,
  requestId: string,
  slot: string,
): Promise<BeamlineEvent | undefined> {
  const subject = requestSubject(tenant, requestId, slot);
  // With a signing key, only Beamline's own writes count: a forged event cannot inject history.
  return store.signer
    ? store.readLastTrusted(StreamNames.requests, subject)
    : store.readLast(StreamNames.requests, subject);
}

function notFound(responseId: string): BeamlineError {
  return new BeamlineError("BL_NOT_FOUND", `Previous response with id '${responseId}' not found.`, {
    param: PREVIOUS,
  });
}

/**
 * A content field of an earlier event, or a 400 that says why it is not there when the tenant
 * keeps no content (`hashes` / `none`); a sealed field this gateway cannot open is an error
 * (`BL_CONTENT_UNREADABLE`).
 */
function contentOf<V>(value: V | undefined, event: BeamlineEvent, responseId: string, param = PREVIOUS): V {
  const mode = (event.data as { atRest?: AtRest }).atRest?.mode;
  if (value === undefined && (mode === "hashes" || mode === "none")) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `The content of response '${responseId}' is not available: this tenant's content policy stores ${mode === "hashes" ? "only hashes of" : "no"} prompts and answers, so a response cannot be continued from the log (previous_response_id, item_reference). Send the whole conversation as input instead.`,
      { param },
    );
  }
  return requireContent(value, event);
}

/**
 * The earlier exchange named by `responseId` as canonical messages (its input without its
 * instructions, then its answer), read from the log under `tenant`.
 */
export async function loadPreviousExchange(
  store: EventStore,
  tenant: string,
  responseId: string,
): Promise<{ messages: ChatMessage[]; model: string }> {
  const requestId = requestIdOfResponse(responseId);
  if (requestId === undefined || !isSafeToken(requestId)) throw notFound(responseId);
  const accepted = await readSlot(store, tenant, requestId, RequestSlots.accepted);
  if (accepted?.type !== "request.accepted") throw notFound(responseId);
  const acceptedData = accepted.data as EventData<"request.accepted">;
  if (acceptedData.frontDoor !== "responses") throw notFound(responseId);
  if (acceptedData.responses?.store === false) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `Response '${responseId}' was created with store: false, so it cannot be continued with previous_response_id.`,
      { param: PREVIOUS },
    );
  }
  const terminal = await readSlot(store, tenant, requestId, RequestSlots.terminal);
  if (terminal?.type !== "request.completed") {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      terminal
        ? `Response '${responseId}' failed, so it cannot be continued; send its input again instead.`
        : `Response '${responseId}' has not completed yet; continue it once it has.`,
      { param: PREVIOUS },
    );
  }
  const request = contentOf<ChatRequest>(acceptedData.request, accepted, responseId);
  const completion = contentOf<ChatCompletion>(
    (terminal.data as EventData<"request.completed">).completion,
    terminal,
    responseId,
  );
  const instructionMessages = acceptedData.responses?.instructionMessages ?? 0;
  return {
    messages: previousExchange(request, instructionMessages, assistantMessageOf(completion)),
    model: completion.model,
  };
}

/**
 * The output items named by `itemIds` (`item_reference`), rebuilt from their requests'
 * completions under `tenant`. Ids that are not Beamline's or not found are left out: the
 * translation answers them with a 404 naming the item.
 */
export async function loadReferencedItems(
  store: EventStore,
  tenant: string,
  itemIds: readonly string[],
): Promise<Map<string, ResponsesOutputItem>> {
  const found = new Map<string, ResponsesOutputItem>();
  const requestIds = new Set<string>();
  for (const id of itemIds) {
    const requestId = requestIdOfItem(id);
    if (requestId !== undefined && isSafeToken(requestId)) requestIds.add(requestId);
  }
  for (const requestId of requestIds) {
    const terminal = await readSlot(store, tenant, requestId, RequestSlots.terminal);
    if (terminal?.type !== "request.completed") continue;
    const completion = contentOf<ChatCompletion>(
      (terminal.data as EventData<"request.completed">).completion,
      terminal,
      responseIdOf(requestId),
      "input",
    );
    for (const item of outputItemsOf(completion, requestId)) {
      if (itemIds.includes(item.id)) found.set(item.id, item);
    }
  }
  return found;
}
