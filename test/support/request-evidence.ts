import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, type EventData, isEvent, usageSubject } from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import type { StoredEvent } from "../../src/nats/read-events.js";
import { readEvents, readRequestHistory } from "./history.js";
import { waitFor } from "./wait.js";

type AttemptEvent = BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;
type TerminalEvent = BeamlineEvent<"request.completed"> | BeamlineEvent<"request.failed">;

/** Everything the log holds about one finished request, once billing has dealt with it. */
export interface RequestEvidence {
  /** Attempt events in attempt order. */
  attempts: AttemptEvent[];
  terminal: TerminalEvent;
  /** The usage records of the request: billing has processed its terminal event, so this is final. */
  usage: Array<EventData<"usage.recorded">>;
}

/**
 * Reads a request's attempts, terminal event and usage records. Waits for the terminal event,
 * then for the billing consumer's acknowledgement floor to pass it (every terminal event up to
 * and including this one processed), so an empty `usage` proves nothing was billed rather than
 * "not billed yet". Safe while other requests run concurrently.
 */
export async function requestEvidence(
  nc: NatsConnection,
  tenant: string,
  requestId: string,
  timeoutMs = 15_000,
): Promise<RequestEvidence> {
  const history = await waitFor(
    async () => {
      const events = await readRequestHistory(nc, tenant, requestId);
      return events.some(({ event }) => isTerminal(event)) ? events : undefined;
    },
    { what: `the terminal event of ${requestId}`, timeoutMs },
  );
  const terminalStored = history.find(({ event }) => isTerminal(event)) as StoredEvent;
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(StreamNames.requests, ConsumerNames.billing);
      return info.ack_floor.stream_seq >= terminalStored.seq;
    },
    {
      what: `billing to acknowledge the terminal event of ${requestId} (seq ${terminalStored.seq})`,
      timeoutMs,
    },
  );
  const usage = await readEvents(nc, StreamNames.usage, usageSubject(tenant, requestId));
  return {
    attempts: history
      .map(({ event }) => event)
      .filter(
        (event): event is AttemptEvent =>
          isEvent(event, "attempt.succeeded") || isEvent(event, "attempt.failed"),
      )
      .sort((a, b) => a.data.attempt - b.data.attempt),
    terminal: terminalStored.event as TerminalEvent,
    usage: usage.map(({ event }) => {
      if (!isEvent(event, "usage.recorded")) throw new Error(`unexpected ${event.type} on the usage stream`);
      return event.data;
    }),
  };
}

function isTerminal(event: BeamlineEvent): boolean {
  return isEvent(event, "request.completed") || isEvent(event, "request.failed");
}
