import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { StreamNames } from "../../streams/definitions.js";
import type { ModelCatalog } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import { type BeamlineEvent, encodeEvent, isEvent, RequestSlots, requestSubject } from "../events/index.js";
import type { EventStore } from "../nats/event-store.js";
import type { BeamlineMetrics, Logger } from "../observability/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import { LiveHeaders, LiveKinds } from "./live.js";

/** What every stage needs; built once per process and shared by its stages. */
export interface StageDeps {
  nc: NatsConnection;
  store: EventStore;
  catalog: ModelCatalog;
  providers: ProviderRegistry;
  log: Logger;
  metrics: BeamlineMetrics;
  /** Injected so tests control time; stages never read the clock directly. */
  now: () => Date;
}

export type AcceptedEvent = BeamlineEvent<"request.accepted">;
export type TerminalEvent = BeamlineEvent<"request.completed"> | BeamlineEvent<"request.failed">;

/** The request.accepted event of a request (stored before any later stage runs). */
export async function loadAccepted(
  deps: StageDeps,
  tenant: string,
  requestId: string,
): Promise<AcceptedEvent> {
  const event = await deps.store.readLast(
    StreamNames.requests,
    requestSubject(tenant, requestId, RequestSlots.accepted),
  );
  if (!event || !isEvent(event, "request.accepted")) {
    throw new BeamlineError("BL_INTERNAL", `request.accepted of ${tenant}/${requestId} is missing`);
  }
  return event;
}

/**
 * Stores the request's terminal event — at most one ever, whoever writes it — and tells the
 * waiting client. When a terminal already exists (a redelivery, a race) the stored one wins
 * and is what the client is told, so the client and the log never disagree.
 */
export async function endRequest(
  deps: StageDeps,
  accepted: AcceptedEvent,
  terminal: TerminalEvent,
): Promise<TerminalEvent> {
  const subject = requestSubject(terminal.tenant, terminal.requestId, RequestSlots.terminal);
  const result = await deps.store.append(subject, terminal, { once: true });
  let stored: BeamlineEvent = terminal;
  if (result.duplicate) {
    stored = (await deps.store.readLast(StreamNames.requests, subject)) ?? terminal;
  }
  notifyTerminal(deps.nc, accepted, stored as TerminalEvent);
  return stored as TerminalEvent;
}

/** Sends the terminal event to the client waiting on the request's reply subject, if any. */
export function notifyTerminal(nc: NatsConnection, accepted: AcceptedEvent, terminal: TerminalEvent): void {
  const replyTo = accepted.data.replyTo;
  if (!replyTo) return;
  const encoded = encodeEvent(terminal);
  const h = headersOf({ ...encoded.headers, [LiveHeaders.kind]: LiveKinds.terminal });
  nc.publish(replyTo, encoded.payload, { headers: h });
}

function headersOf(entries: Record<string, string>) {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  return h;
}
