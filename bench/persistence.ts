import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { PersistenceCheck } from "./report.js";

const STAGE_CONSUMERS = ["worker", "billing"] as const;
/** Events a successful non-streamed request stores on BL_REQUESTS: accepted, decided, attempt, terminal. */
const EVENTS_PER_REQUEST = 4;

/** Messages on Beamline's request, usage and dead-letter streams at one moment. */
export interface Counts {
  requests: number;
  usage: number;
  dead: number;
}

/** Counts the messages now on BL_REQUESTS, BL_USAGE and BL_DEAD. */
export async function persistedCounts(jsm: JetStreamManager): Promise<Counts> {
  const messages = async (stream: string) => (await jsm.streams.info(stream)).state.messages;
  return {
    requests: await messages("BL_REQUESTS"),
    usage: await messages("BL_USAGE"),
    dead: await messages("BL_DEAD"),
  };
}

/**
 * Waits until every stage consumer has nothing pending or unacknowledged (billing runs
 * after the client got its answer, so it may still be catching up when the load ends),
 * then compares what was stored with the answers the client received.
 */
export async function checkPersistence(
  jsm: JetStreamManager,
  before: Counts,
  okResponses: number,
): Promise<PersistenceCheck> {
  const loadEnded = performance.now();
  const deadline = loadEnded + 120_000;
  for (;;) {
    const infos = await Promise.all(STAGE_CONSUMERS.map((name) => jsm.consumers.info("BL_REQUESTS", name)));
    if (infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)) break;
    if (performance.now() > deadline) {
      const stuck = infos.map((i) => `${i.name}: ${i.num_pending} pending, ${i.num_ack_pending} unacked`);
      throw new Error(`stage consumers did not catch up within 120 s (${stuck.join("; ")})`);
    }
    await sleep(20);
  }
  const drainMs = performance.now() - loadEnded;
  const after = await persistedCounts(jsm);
  const check: PersistenceCheck = {
    okResponses,
    requestEvents: after.requests - before.requests,
    expectedRequestEvents: okResponses * EVENTS_PER_REQUEST,
    usageEvents: after.usage - before.usage,
    deadLetters: after.dead - before.dead,
    drainMs,
    complete: false,
  };
  check.complete =
    check.requestEvents === check.expectedRequestEvents &&
    check.usageEvents === okResponses &&
    check.deadLetters === 0;
  return check;
}
