import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import {
  type LostReplyRecovery,
  type TerminalDelivery,
  terminalSlotReader,
  WaiterRegistry,
} from "../../src/gateway/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { connectNats } from "../../src/nats/connect.js";
import { EventStore } from "../../src/nats/event-store.js";
import { LiveChannel } from "../../src/nats/live-channel.js";
import {
  type AcceptedEvent,
  LiveHeaders,
  LiveKinds,
  notifyTerminal,
  type TerminalEvent,
} from "../../src/stages/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

/**
 * Lost-reply recovery (issue 13): a terminal notice lost on the live inbox is found in the
 * request's terminal slot — at once after a reconnect, or by the safety sweep once the request
 * has been quiet a while — and a stream whose chunks were lost is never vouched for as whole.
 */
const TENANT = "lost";

describe("the gateway's live inbox recovers lost terminal notices", { timeout: 60_000 }, () => {
  let server: NatsServer;
  let gatewayNc: NatsConnection;
  let workerNc: NatsConnection;
  let store: EventStore;
  const registries: WaiterRegistry[] = [];

  before(async () => {
    server = await startNatsServer();
    gatewayNc = await connectNats({ servers: server.url, name: "lost-reply-gateway" });
    workerNc = await connectNats({ servers: server.url, name: "lost-reply-worker" });
    await applyTopology(workerNc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    store = new EventStore(workerNc);
  });
  after(async () => {
    for (const registry of registries) registry.close();
    store.close();
    await gatewayNc.close();
    await workerNc.close();
    await server.stop();
  });

  /** A registry whose inbox subscription the server already holds (so no chunk races it). */
  async function registry(recovery: Omit<LostReplyRecovery, "readTerminal">): Promise<WaiterRegistry> {
    const created = new WaiterRegistry(gatewayNc, `gw-${registries.length}`, () => undefined, {
      readTerminal: terminalSlotReader(new EventStore(gatewayNc)),
      ...recovery,
    });
    registries.push(created);
    await gatewayNc.flush();
    return created;
  }

  interface Waiting {
    requestId: string;
    chunks: string[];
    terminal: Promise<{ event: TerminalEvent; delivery: TerminalDelivery | undefined }>;
  }

  function wait(waiters: WaiterRegistry): Waiting {
    const requestId = newRequestId();
    const chunks: string[] = [];
    const terminal = new Promise<{ event: TerminalEvent; delivery: TerminalDelivery | undefined }>(
      (resolve) => {
        waiters.register(requestId, {
          tenant: TENANT,
          onChunk: (json) => chunks.push(Buffer.from(json).toString()),
          onTerminal: (event, delivery) => resolve({ event, delivery }),
        });
      },
    );
    return { requestId, chunks, terminal };
  }

  /** Stores the request's terminal event; with `notify`, also sends the live notice. */
  async function finish(waiters: WaiterRegistry, requestId: string, notify: boolean): Promise<TerminalEvent> {
    const event = makeEvent(
      "request.failed",
      `${requestId}:${RequestSlots.terminal}`,
      { tenant: TENANT, requestId, correlationId: requestId },
      {
        stage: "execute",
        error: { code: "BL_PROVIDER_ERROR", message: "upstream said no", httpStatus: 502, type: "api_error" },
        attempts: 1,
      },
      new Date(),
    ) as TerminalEvent;
    await store.append(requestSubject(TENANT, requestId, RequestSlots.terminal), event, { once: true });
    if (notify) {
      const accepted = { data: { replyTo: waiters.replySubject(requestId) } } as AcceptedEvent;
      notifyTerminal(new LiveChannel(workerNc), accepted, event);
      await workerNc.flush();
    }
    return event;
  }

  async function chunk(waiters: WaiterRegistry, requestId: string, sequence: number): Promise<void> {
    const h = natsHeaders();
    h.set(LiveHeaders.kind, LiveKinds.chunk);
    h.set(LiveHeaders.generation, "1.1");
    h.set(LiveHeaders.sequence, String(sequence));
    workerNc.publish(waiters.replySubject(requestId), `{"n":${sequence}}`, { headers: h });
    await workerNc.flush();
  }

  /** Several chunks in one `chunks` message, newline-separated, numbered from `first`. */
  async function chunks(
    waiters: WaiterRegistry,
    requestId: string,
    first: number,
    count: number,
  ): Promise<void> {
    const h = natsHeaders();
    h.set(LiveHeaders.kind, LiveKinds.chunks);
    h.set(LiveHeaders.generation, "1.1");
    h.set(LiveHeaders.sequence, String(first));
    const body = Array.from({ length: count }, (_, i) => `{"n":${first + i}}`).join("\n");
    workerNc.publish(waiters.replySubject(requestId), body, { headers: h });
    await workerNc.flush();
  }

  it("a terminal whose live notice never came is read from its slot once the request is quiet", async () => {
    const waiters = await registry({ quietMs: 300, sweepIntervalMs: 100 });
    const waiting = wait(waiters);
    const stored = await finish(waiters, waiting.requestId, false);
    const started = Date.now();
    const { event, delivery } = await waiting.terminal;
    assert.equal(event.id, stored.id);
    assert.deepEqual(delivery, { source: "log", streamGap: false });
    assert.ok(Date.now() - started < 5_000, "recovered well within 5 s");
    assert.equal(waiters.size, 0, "the waiter is released");
  });

  it("after a reconnect every waiting request's slot is read at once", async () => {
    // The safety sweep is out of the way: only the reconnect can find the terminal.
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const waiting = wait(waiters);
    const untouched = wait(waiters);
    await finish(waiters, waiting.requestId, false);
    await gatewayNc.reconnect();
    const { delivery } = await waiting.terminal;
    assert.equal(delivery?.source, "log");
    assert.equal(waiters.recovered, 1);
    assert.equal(waiters.size, 1, "a request still running keeps waiting");
    // The untouched one still gets its live notice afterwards, exactly once.
    await finish(waiters, untouched.requestId, true);
    assert.equal((await untouched.terminal).delivery?.source, "live");
  });

  it("a live terminal after contiguous chunks vouches for the stream", async () => {
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const waiting = wait(waiters);
    for (const sequence of [1, 2, 3]) await chunk(waiters, waiting.requestId, sequence);
    await finish(waiters, waiting.requestId, true);
    assert.deepEqual((await waiting.terminal).delivery, { source: "live", streamGap: false });
    assert.equal(waiting.chunks.length, 3);
  });

  it("batched chunks reach the client one by one, in order, and count in the sequence", async () => {
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const waiting = wait(waiters);
    await chunk(waiters, waiting.requestId, 1);
    await chunks(waiters, waiting.requestId, 2, 3);
    await chunk(waiters, waiting.requestId, 5);
    await finish(waiters, waiting.requestId, true);
    assert.deepEqual((await waiting.terminal).delivery, { source: "live", streamGap: false });
    assert.deepEqual(
      waiting.chunks,
      [1, 2, 3, 4, 5].map((n) => `{"n":${n}}`),
    );
  });

  it("a batch that skips a number marks the stream as cut", async () => {
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const waiting = wait(waiters);
    await chunks(waiters, waiting.requestId, 1, 2);
    await chunks(waiters, waiting.requestId, 4, 2);
    await finish(waiters, waiting.requestId, true);
    assert.deepEqual((await waiting.terminal).delivery, { source: "live", streamGap: true });
    assert.equal(waiting.chunks.length, 4);
  });

  it("a gap in the chunk sequence marks the stream as cut", async () => {
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const waiting = wait(waiters);
    for (const sequence of [1, 3]) await chunk(waiters, waiting.requestId, sequence);
    await finish(waiters, waiting.requestId, true);
    assert.deepEqual((await waiting.terminal).delivery, { source: "live", streamGap: true });
  });

  it("a reconnect mid-stream marks it as cut unless a contiguous chunk follows", async () => {
    const waiters = await registry({ quietMs: 600_000, sweepIntervalMs: 600_000 });
    const suspect = wait(waiters);
    const proven = wait(waiters);
    await chunk(waiters, suspect.requestId, 1);
    await chunk(waiters, proven.requestId, 1);
    await waitFor(() => suspect.chunks.length === 1 && proven.chunks.length === 1, {
      what: "the first chunk of both streams",
      timeoutMs: 5_000,
    });
    const reconnected = (async () => {
      for await (const status of gatewayNc.status()) if (status.type === "reconnect") return;
    })();
    await gatewayNc.reconnect();
    await reconnected;
    // The resubscription must reach the server before the next chunk is published.
    await gatewayNc.flush();
    await chunk(waiters, proven.requestId, 2);
    await waitFor(() => proven.chunks.length === 2, {
      what: "the chunk after the reconnect",
      timeoutMs: 5_000,
    });
    await finish(waiters, suspect.requestId, true);
    await finish(waiters, proven.requestId, true);
    assert.equal((await suspect.terminal).delivery?.streamGap, true);
    assert.equal((await proven.terminal).delivery?.streamGap, false);
  });

  it("a stream whose terminal had to be read from the log is not vouched for", async () => {
    const waiters = await registry({ quietMs: 300, sweepIntervalMs: 100 });
    const waiting = wait(waiters);
    await chunk(waiters, waiting.requestId, 1);
    await finish(waiters, waiting.requestId, false);
    assert.deepEqual((await waiting.terminal).delivery, { source: "log", streamGap: true });
  });
});
