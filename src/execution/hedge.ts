import type { Clock } from "../events/index.js";
import type { HedgePolicy } from "../routing/index.js";
import {
  type AttemptPlan,
  attemptOnce,
  ExecutionErrorClass,
  HedgeLostError,
  type RaceControl,
  reachedProvider,
} from "./attempt.js";
import type { AttemptRecord, Candidate, Skip } from "./executor.js";
import { type AttemptHedge, hedgeDeadline } from "./hedge-policy.js";

/** The hedging a request runs under (the tenant policy's `hedge`). */
export interface HedgeSettings {
  policy: HedgePolicy;
  /** Observed times to first token of a target, in ms, for `afterPercentile` (see LatencySamples). */
  latencies?: (provider: string, model: string, streamed: boolean) => readonly number[];
}

/** What the tenant's caps say about one more hedge. */
export type HedgeGrant =
  | { granted: true }
  | { granted: false; reason: "max_hedges_per_minute" | "max_extra_cost_per_day" };

/** The hedge a reservation is for: its attempt number and candidate. */
export interface HedgeTicket {
  attempt: number;
  candidate: Candidate;
}

/** How a hedged start ended: the attempts it stored, and the one the request goes on from. */
export interface HedgedStart {
  /** The stored records of this start, primary first. */
  stored: AttemptRecord[];
  /** The successful attempt, when one succeeded: it ends the request. */
  success?: Extract<AttemptRecord, { type: "attempt.succeeded" }>;
  /** The record the executor continues from when none succeeded: the highest attempt number. */
  last: AttemptRecord;
}

/**
 * The first attempt of a request whose tenant hedges. The primary is called; when it has
 * produced no first token by the deadline (hedge-policy.ts), the caps are asked
 * (`reserveHedge`) and the next admitted candidate is called as well. The first of the two to
 * produce a token wins: its chunks alone reach the client, and the other's call is aborted
 * (its HTTP request closed) and recorded as lost, with the usage it ran up. A stream whose
 * first chunk was relayed is never hedged. Every record carries its `hedge` part, so the
 * decision (deadline, who won, why no hedge) replays from the log alone.
 */
export async function hedgedStart(primary: AttemptPlan, settings: HedgeSettings): Promise<HedgedStart> {
  const { input, hooks } = primary;
  const { provider, model } = primary.candidate;
  const deadline = hedgeDeadline(settings.policy, settings.latencies?.(provider, model, input.stream) ?? []);
  if ("declined" in deadline) {
    const record = await store(primary, await attemptOnce(primary), {
      role: "primary",
      outcome: "declined",
      declined: deadline.declined,
    });
    return single(record);
  }
  const chosen: Pick<AttemptHedge, "afterMs" | "basis" | "samples"> = {
    afterMs: deadline.afterMs,
    basis: deadline.basis,
    ...(deadline.samples !== undefined ? { samples: deadline.samples } : {}),
  };
  const race = createRace(hooks.signal);
  const primaryRun = attemptOnce({ ...primary, race: race.control(0) });
  const passed = await deadlinePassed(input.clock, deadline.afterMs, primaryRun, race.firstToken);
  const alone = (outcome: AttemptHedge["outcome"], declined?: AttemptHedge["declined"]) =>
    primaryRun.then(async (record) =>
      single(
        await store(primary, record, {
          role: "primary",
          ...chosen,
          outcome,
          ...(declined ? { declined } : {}),
        }),
      ),
    );
  if (!passed) return alone("not_needed");

  const next = await admitHedgeCandidate(primary);
  if (!next) return alone("declined", "no_candidate");
  const ticket: HedgeTicket = { attempt: primary.cursor.attempt + 1, candidate: next.candidate };
  const grant = (await hooks.reserveHedge?.(ticket)) ?? { granted: true };
  if (!grant.granted || race.winner !== undefined) {
    if (next.lease !== undefined)
      await input.breakers.releaseProbe?.(next.candidate.provider, next.candidate.model, next.lease);
    if (grant.granted) await hooks.settleHedge?.(ticket, undefined);
    return grant.granted ? alone("not_needed") : alone("declined", grant.reason);
  }

  const hedge: AttemptPlan = {
    input,
    hooks,
    candidate: next.candidate,
    cursor: {
      index: next.index,
      tries: 0,
      attempt: ticket.attempt,
      backoffUsedMs: primary.cursor.backoffUsedMs,
    },
    probe: next.probe,
    skipped: next.skipped,
    race: race.control(1),
  };
  const pair = (index: 0 | 1, record: AttemptRecord): AttemptHedge => ({
    role: index === 0 ? "primary" : "hedge",
    ...chosen,
    outcome: race.winner === index ? "won" : isLost(record) ? "lost" : "failed",
    pairedWith: index === 0 ? ticket.attempt : primary.cursor.attempt,
  });
  // Each attempt is stored as soon as it ends, so a loser is recorded (and billable) while the
  // winner's stream is still running.
  const [first, second] = await Promise.all([
    primaryRun.then((record) => store(primary, supersede(record, race.winner !== 0), pair(0, record))),
    attemptOnce(hedge).then(async (record) => {
      if (next.lease !== undefined && !reachedProvider(record))
        await input.breakers.releaseProbe?.(next.candidate.provider, next.candidate.model, next.lease);
      return store(hedge, record, pair(1, record));
    }),
  ]);
  const loser = race.winner === 0 ? second : race.winner === 1 ? first : second;
  await hooks.settleHedge?.(ticket, loser);
  const success = [first, second].find(
    (r): r is Extract<AttemptRecord, { type: "attempt.succeeded" }> => r.type === "attempt.succeeded",
  );
  return { stored: [first, second], last: second, ...(success ? { success } : {}) };
}

/** Whether the record is of an attempt cancelled because the other attempt of its pair won. */
export function isLost(record: AttemptRecord): boolean {
  return record.type === "attempt.failed" && record.data.errorClass === ExecutionErrorClass.HedgeLost;
}

function single(record: AttemptRecord): HedgedStart {
  return {
    stored: [record],
    last: record,
    ...(record.type === "attempt.succeeded" ? { success: record } : {}),
  };
}

/** Writes the attempt's hedge part into its record and stores it through the hooks. */
function store(plan: AttemptPlan, record: AttemptRecord, hedge: AttemptHedge): Promise<AttemptRecord> {
  record.data.hedge = hedge;
  return plan.hooks.recordAttempt(record);
}

/**
 * A primary that failed without winning was superseded by the hedge, which already is its
 * failover: it never ends the request, and the executor goes on from the hedge's record.
 */
function supersede(record: AttemptRecord, superseded: boolean): AttemptRecord {
  if (!superseded || record.type !== "attempt.failed" || isLost(record)) return record;
  const { retryDelayMs: _, ...data } = record.data;
  return { type: "attempt.failed", data: { ...data, final: false, next: "failover" } };
}

/** The first candidate after the primary that is configured and that its breaker admits. */
async function admitHedgeCandidate(
  primary: AttemptPlan,
): Promise<
  { candidate: Candidate; index: number; probe: boolean; lease?: number; skipped: Skip[] } | undefined
> {
  const { input } = primary;
  const skipped: Skip[] = [];
  for (let index = primary.cursor.index + 1; index < input.candidates.length; index++) {
    const candidate = input.candidates[index]!;
    if (!input.providers.has(candidate.provider)) {
      skipped.push({ provider: candidate.provider, model: candidate.model, reason: "not_configured" });
      continue;
    }
    const admission = await input.breakers.admit(candidate.provider, candidate.model);
    if (!admission.admitted) {
      skipped.push({ provider: candidate.provider, model: candidate.model, reason: admission.reason });
      continue;
    }
    return {
      candidate,
      index,
      probe: admission.probe,
      ...(admission.lease !== undefined ? { lease: admission.lease } : {}),
      skipped,
    };
  }
  return undefined;
}

/** Two attempts, one winner: the first to claim aborts the other with HedgeLostError. */
function createRace(caller: AbortSignal | undefined) {
  const controllers = [new AbortController(), new AbortController()] as const;
  let winner: 0 | 1 | undefined;
  let tokenSeen: () => void = () => undefined;
  const firstToken = new Promise<void>((resolve) => {
    tokenSeen = resolve;
  });
  const onCallerAbort = () => {
    for (const controller of controllers) controller.abort(caller?.reason);
  };
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener("abort", onCallerAbort, { once: true });
  return {
    get winner() {
      return winner;
    },
    firstToken,
    control(index: 0 | 1): RaceControl {
      return {
        signal: controllers[index].signal,
        claim() {
          if (winner === undefined && !controllers[index].signal.aborted) {
            winner = index;
            tokenSeen();
            controllers[index === 0 ? 1 : 0].abort(new HedgeLostError());
          }
          return winner === index;
        },
      };
    },
  };
}

/** True when `afterMs` passed before the primary ended or produced its first token. */
function deadlinePassed(
  clock: Clock,
  afterMs: number,
  running: Promise<unknown>,
  firstToken: Promise<void>,
): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = clock.setTimeout(() => resolve(true), afterMs);
    const early = () => {
      cancel();
      resolve(false);
    };
    running.then(early, early);
    firstToken.then(early);
  });
}
