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
  /** That slowest request's story (client and stored events, ms after the fault ended), to say where its time went. */
  slowestTimeline: string;
  /** The processes' log lines that name that request (at most 12, shortened). */
  slowestLogs: string[];
  /** Tokens the capped tenant spent, against its budget (nano-USD). */
  cappedSpentNano: number;
}

export interface ClusterCheckOptions {
  /** When the fault ended (ms since epoch): every client must have its answer within 5 s of it. */
  faultEndedAt: number;
  /** Clients allowed a connection error (e.g. those whose gateway was killed). Default: none. */
  connectionErrorAllowed?: (answer: ClientAnswer) => boolean;
  capped?: { tenant: string; budgetUsd: number };
  /** Time to answer after the fault ended, in ms. Default 5 000 (the issue's bar). */
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
  // Every check runs and reports; a failure then names the requests involved with their stored
  // timelines and the processes' warnings, so one run says where the time or the event went.
  const problems: string[] = [];
  const suspects = new Set<string>();
  const check = (ok: boolean, problem: string, requestId?: string) => {
    if (ok) return;
    problems.push(problem);
    if (requestId) suspects.add(requestId);
  };

  // The log, once every consumer has processed everything.
  for (const [stream, consumer] of [
    [StreamNames.requests, ConsumerNames.worker],
    [StreamNames.requests, ConsumerNames.billing],
    [StreamNames.usage, ConsumerNames.spendProjector],
    [StreamNames.quota, ConsumerNames.quotaProjector],
  ] as const) {
    await waitForConsumerCaughtUp(nc, stream, consumer, 60_000).catch((error: Error) =>
      check(false, error.message),
    );
  }
  const requestEvents = await readAll(StreamNames.requests, `${SubjectRoots.requests}.>`);
  const faultEndedAt = options.faultEndedAt;
  const afterFault = (ms: number) => ms - faultEndedAt;

  // Clients: the bar a user sees.
  for (const answer of answers) {
    const id = answer.requestId ?? "(no request id)";
    check(
      answer.outcome !== "unclear" && answer.outcome !== "deadline",
      `client got ${answer.outcome} (status ${answer.status ?? "none"}) for ${id}, not a success or a BL code`,
      answer.requestId,
    );
  }
  const allowed = options.connectionErrorAllowed ?? (() => false);
  const connectionErrors = answers.filter((answer) => answer.outcome === "connection-error");
  for (const answer of connectionErrors) {
    check(
      allowed(answer),
      `connection error for ${answer.requestId ?? "(no request id)"}, whose gateway stayed up`,
      answer.requestId,
    );
  }
  const inFlightAtFaultEnd = answers.filter((answer) => answer.startedAt <= faultEndedAt);
  const slowestAfterFaultMs = Math.max(0, ...inFlightAtFaultEnd.map((answer) => afterFault(answer.endedAt)));
  for (const answer of inFlightAtFaultEnd) {
    check(
      afterFault(answer.endedAt) <= answerWithinMs,
      `${answer.requestId ?? "(no request id)"} answered ${afterFault(answer.endedAt)} ms after the fault ended (bar ${answerWithinMs} ms)`,
      answer.requestId,
    );
  }

  const accepted = new Set(
    requestEvents.filter((event) => isEvent(event, "request.accepted")).map((event) => event.requestId),
  );
  const terminals = new Map<string, TerminalEvent[]>();
  for (const event of requestEvents) {
    if (!isEvent(event, "request.completed") && !isEvent(event, "request.failed")) continue;
    terminals.set(event.requestId, [...(terminals.get(event.requestId) ?? []), event as TerminalEvent]);
  }
  for (const requestId of accepted) {
    const count = terminals.get(requestId)?.length ?? 0;
    check(count === 1, `accepted request ${requestId} has ${count} terminal events`, requestId);
  }
  for (const requestId of terminals.keys())
    check(accepted.has(requestId), `${requestId} ended but was never accepted`, requestId);

  const usage = await readAll(StreamNames.usage, `${SubjectRoots.usage}.>`);
  const usageCount = new Map<string, number>();
  for (const event of usage) usageCount.set(event.requestId, (usageCount.get(event.requestId) ?? 0) + 1);
  for (const [requestId, [terminal]] of terminals) {
    const expected = isBillable(terminal!) ? 1 : 0;
    const count = usageCount.get(requestId) ?? 0;
    check(
      count === expected,
      `${requestId} (${terminal!.type}) has ${count} usage records, not ${expected}`,
      requestId,
    );
  }
  for (const requestId of usageCount.keys())
    check(terminals.has(requestId), `usage for ${requestId}, which has no terminal`, requestId);

  for (const answer of answers.filter((candidate) => candidate.outcome === "ok")) {
    const stored = answer.requestId ? terminals.get(answer.requestId)?.[0]?.type : undefined;
    check(
      stored === "request.completed",
      `2xx answer ${answer.requestId ?? "(no request id)"} has a stored ${stored ?? "nothing"}, not a completion`,
      answer.requestId,
    );
  }

  let cappedSpentNano = 0;
  if (options.capped) {
    for (const event of usage) {
      if (event.tenant === options.capped.tenant && isEvent(event, "usage.recorded")) {
        cappedSpentNano += event.data.costNanoUsd;
      }
    }
    check(
      cappedSpentNano <= usdToNano(options.capped.budgetUsd),
      `${options.capped.tenant} spent ${cappedSpentNano} nano-USD of a ${usdToNano(options.capped.budgetUsd)} budget`,
    );
  }

  // Its reads may reach the node restarted moments ago, still catching up: a timeout is asked again.
  const projections = await waitFor(() => verifyProjections(nc), {
    what: "the projections to be rebuilt and compared",
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  for (const projection of projections) {
    check(
      projection.differing.length === 0,
      `rebuilt ${projection.name} differs from the live one: ${projection.differing.join(", ")}`,
    );
  }
  await assertBillingReconciles(topology.natsUrl).catch((error: Error) => check(false, error.message));
  // One `audit verify` run over a cluster-sized log takes ~15 s on a loaded 2-core machine.
  await assertAuditVerifies(topology.natsUrl, topology.notaryDataDir, 180_000).catch((error: Error) =>
    check(false, error.message),
  );

  /** A request's story: what its client saw and its stored events, in ms after the fault ended. */
  const timeline = (
    requestId: string,
    answer = answers.find((candidate) => candidate.requestId === requestId),
  ) => {
    const stored = requestEvents
      .filter((event) => event.requestId === requestId)
      .map((event) => `${event.type}@${afterFault(Date.parse(event.time))}`)
      .join(" ");
    const client = answer
      ? `${answer.tenant} ${answer.stream ? "stream" : "plain"} via gateway ${answer.gateway}, sent@${afterFault(answer.startedAt)} ended@${afterFault(answer.endedAt)} ${answer.outcome}${answer.code ? ` ${answer.code}` : ""}`
      : "no client answer";
    return `${requestId}: ${client}; stored: ${stored || "nothing"}`;
  };
  const slowest = inFlightAtFaultEnd.reduce<ClientAnswer | undefined>(
    (worst, answer) => (worst === undefined || answer.endedAt > worst.endedAt ? answer : worst),
    undefined,
  );
  const slowestTimeline = slowest ? timeline(slowest.requestId ?? "(no request id)", slowest) : "none";
  const roles = [...topology.gateways, ...topology.workers, topology.billing, topology.projector];
  const slowestLogs = slowest?.requestId
    ? roles
        .flatMap((role) =>
          role.process
            .output()
            .split("\n")
            .filter((line) => line.includes(slowest.requestId!))
            .map((line) => `${role.name}: ${line.slice(0, 300)}`),
        )
        .slice(0, 12)
    : [];

  if (problems.length > 0) {
    const timelines = [...suspects].slice(0, 8).map((requestId) => `  ${timeline(requestId)}`);
    const warnings = roles.flatMap((role) =>
      role.process
        .output()
        .split("\n")
        .filter((line) => /"level":(40|50|60)/.test(line))
        .slice(-6)
        .map((line) => `  ${role.name}: ${line.slice(0, 400)}`),
    );
    assert.fail(
      [
        `${problems.length} problem(s); times in ms after the fault ended (${new Date(faultEndedAt).toISOString()}):`,
        ...problems.slice(0, 20).map((problem) => `- ${problem}`),
        "requests involved:",
        ...timelines,
        "last warnings of each process:",
        ...warnings,
      ].join("\n"),
    );
  }
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
    slowestTimeline,
    slowestLogs,
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
