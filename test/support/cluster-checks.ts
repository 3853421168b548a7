import assert from "node:assert/strict";
import { verifyProjections } from "../../replay/index.js";
import { type BeamlineEvent, isEvent, SubjectRoots } from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { readEvents } from "../../src/nats/read-events.js";
import { usdToNano } from "../../src/quotas/index.js";
import { isBillable, type TerminalEvent } from "../../src/stages/index.js";
import { waitForConsumerCaughtUp } from "./beamline.js";
import type { ClientAnswer } from "./cluster-load.js";
import type { ClusterTopology } from "./cluster-topology.js";
import { assertAuditVerifies, assertBillingReconciles } from "./log-checks.js";
import { waitFor } from "./wait.js";

/** What the checks found, for the report of a scenario. */
export interface ClusterFigures {
  answers: number;
  ok: number;
  blErrors: Record<string, number>;
  connectionErrors: number;
  accepted: number;
  /** Slowest answer to a request that started before the fault ended, after the fault ended (ms). */
  slowestAfterFaultMs: number;
  /** Tokens the capped tenant spent, against its budget (nano-USD). */
  cappedSpentNano: number;
}

export interface ClusterCheckOptions {
  /** When the fault ended (ms since epoch): every client must have its answer within 5 s of it. */
  faultEndedAt: number;
  /** Clients allowed a connection error (e.g. those whose gateway was killed). Default: none. */
  connectionErrorAllowed?: (answer: ClientAnswer) => boolean;
  capped?: { tenant: string; budgetUsd: number };
  /** Time to answer after the fault ended, in ms. Default 5 000 (the bar). */
  answerWithinMs?: number;
}

/**
 * The invariants every cluster fault scenario ends with, checked against the whole log:
 * every accepted request has exactly one terminal event; every billable terminal exactly one
 * usage record and nothing else has one; every 2xx answer belongs to a request whose stored
 * terminal says completed; the capped tenant is not overspent; rebuilt projections equal the
 * live ones; `billing reconcile` and `audit verify` pass; and every client got its answer —
 * success or a BL code — within 5 s of the fault ending.
 */
export async function assertClusterConsistent(
  topology: ClusterTopology,
  answers: ClientAnswer[],
  options: ClusterCheckOptions,
): Promise<ClusterFigures> {
  const { nc } = topology;
  const answerWithinMs = options.answerWithinMs ?? 5_000;

  // Clients first: the bar a user sees.
  const unclear = answers.filter((answer) => answer.outcome === "unclear" || answer.outcome === "deadline");
  assert.deepEqual(unclear, [], "every client got a success or an error with a BL code");
  const connectionErrors = answers.filter((answer) => answer.outcome === "connection-error");
  const allowed = options.connectionErrorAllowed ?? (() => false);
  assert.deepEqual(
    connectionErrors.filter((answer) => !allowed(answer)),
    [],
    "connection errors only for clients whose gateway went away",
  );
  const inFlightAtFaultEnd = answers.filter((answer) => answer.startedAt <= options.faultEndedAt);
  const slowestAfterFaultMs = Math.max(
    0,
    ...inFlightAtFaultEnd.map((answer) => answer.endedAt - options.faultEndedAt),
  );

  // The log, once every consumer has processed everything.
  for (const [stream, consumer] of [
    [StreamNames.requests, ConsumerNames.worker],
    [StreamNames.requests, ConsumerNames.billing],
    [StreamNames.usage, ConsumerNames.spendProjector],
    [StreamNames.quota, ConsumerNames.quotaProjector],
  ] as const) {
    await waitForConsumerCaughtUp(nc, stream, consumer, 60_000);
  }
  const requestEvents = await readAll(StreamNames.requests, `${SubjectRoots.requests}.>`);
  const accepted = new Set(
    requestEvents.filter((event) => isEvent(event, "request.accepted")).map((event) => event.requestId),
  );
  const terminals = new Map<string, TerminalEvent[]>();
  for (const event of requestEvents) {
    if (!isEvent(event, "request.completed") && !isEvent(event, "request.failed")) continue;
    terminals.set(event.requestId, [...(terminals.get(event.requestId) ?? []), event as TerminalEvent]);
  }
  for (const requestId of accepted) {
    assert.equal(terminals.get(requestId)?.length, 1, `terminal events of accepted request ${requestId}`);
  }
  for (const requestId of terminals.keys())
    assert.ok(accepted.has(requestId), `${requestId} ended but was never accepted`);

  const usage = await readAll(StreamNames.usage, `${SubjectRoots.usage}.>`);
  const usageCount = new Map<string, number>();
  for (const event of usage) usageCount.set(event.requestId, (usageCount.get(event.requestId) ?? 0) + 1);
  for (const [requestId, [terminal]] of terminals) {
    const expected = isBillable(terminal!) ? 1 : 0;
    assert.equal(
      usageCount.get(requestId) ?? 0,
      expected,
      `usage records of ${requestId} (${terminal!.type})`,
    );
  }
  for (const requestId of usageCount.keys())
    assert.ok(terminals.has(requestId), `usage for ${requestId}, which has no terminal`);

  for (const answer of answers.filter((candidate) => candidate.outcome === "ok")) {
    assert.ok(answer.requestId, "a 2xx answer names its request");
    const stored = terminals.get(answer.requestId!);
    assert.equal(
      stored?.[0]?.type,
      "request.completed",
      `2xx answer ${answer.requestId} has a stored completion`,
    );
  }

  let cappedSpentNano = 0;
  if (options.capped) {
    for (const event of usage) {
      if (event.tenant === options.capped.tenant && isEvent(event, "usage.recorded")) {
        cappedSpentNano += event.data.costNanoUsd;
      }
    }
    assert.ok(
      cappedSpentNano <= usdToNano(options.capped.budgetUsd),
      `${options.capped.tenant} spent ${cappedSpentNano} nano-USD of a ${usdToNano(options.capped.budgetUsd)} budget`,
    );
  }

  const projections = await verifyProjections(nc);
  assert.deepEqual(
    projections
      .filter((check) => check.differing.length > 0)
      .map((check) => `${check.name}: ${check.differing.join(", ")}`),
    [],
    "rebuilt projections equal the live ones",
  );
  await assertBillingReconciles(topology.natsUrl);
  // One `audit verify` run over a cluster-sized log takes ~15 s on a loaded 2-core machine.
  await assertAuditVerifies(topology.natsUrl, topology.notaryDataDir, 180_000);

  // Last, so a miss of the time bar still reports whether the log held.
  assert.ok(
    slowestAfterFaultMs <= answerWithinMs,
    `the slowest client got its answer ${slowestAfterFaultMs} ms after the fault ended (bar ${answerWithinMs} ms); the log checks passed`,
  );
  const blErrors: Record<string, number> = {};
  for (const answer of answers) {
    if (answer.outcome === "bl-error") blErrors[answer.code!] = (blErrors[answer.code!] ?? 0) + 1;
  }
  return {
    answers: answers.length,
    ok: answers.filter((answer) => answer.outcome === "ok").length,
    blErrors,
    connectionErrors: connectionErrors.length,
    accepted: accepted.size,
    slowestAfterFaultMs,
    cappedSpentNano,
  };

  async function readAll(stream: string, filter: string): Promise<BeamlineEvent[]> {
    // Reads go to the stream leader, which may be moving right after a fault.
    return waitFor(async () => (await readEvents(nc, stream, filter)).map((stored) => stored.event), {
      what: `a full read of ${stream}`,
      timeoutMs: 30_000,
    });
  }
}
