import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  type EventData,
  EventHeaders,
  JSON_CONTENT_TYPE,
  makeEvent,
  RequestSlots,
} from "../../src/events/index.js";

/** A producer's `request.accepted` for the mock model, answered on `replyTo`. */
export function producerRequestEvent(tenant: string, requestId: string, replyTo: string, stream = false) {
  const data: EventData<"request.accepted"> = {
    request: { model: "mock-small", messages: [{ role: "user", content: `Hello over NATS, ${requestId}` }] },
    frontDoor: "nats",
    stream,
    replyTo,
  };
  return makeEvent(
    "request.accepted",
    `${requestId}:${RequestSlots.accepted}`,
    { tenant, requestId, correlationId: requestId },
    data,
    new Date(),
  );
}

/** The headers a producer publishing JSON (not CBOR) sets on its event. */
export function producerJsonHeaders() {
  const h = natsHeaders();
  h.set(EventHeaders.contentType, JSON_CONTENT_TYPE);
  h.set(EventHeaders.type, "request.accepted");
  h.set(EventHeaders.version, "1");
  return h;
}
