import type { BeamlineEvent } from "../events/index.js";
import { type EventContext, makeEvent, requestSubject } from "../events/index.js";
import type { StepOutcome } from "./outcome.js";

/**
 * Request slot of one step's outcome: `ext.<stage>.<index>`, e.g. `ext.pre.0`, `ext.post.1`.
 * Like every request slot it holds one event, ever (written with expected last subject
 * sequence 0). Slot names never collide with `accepted`, `decided`, `attempt.<n>` or
 * `terminal`, so stage consumers' filters (`bl.req.*.*.accepted`, ...) do not see them;
 * `bl.req.*.*.ext.>` selects every extension outcome.
 */
export function extensionSlot(outcome: Pick<StepOutcome, "stage" | "index">): string {
  return `ext.${outcome.stage}.${outcome.index}`;
}

/** Filter of every extension outcome across tenants. */
export const EXTENSION_OUTCOMES_FILTER = "bl.req.*.*.ext.>";

/** One `extension.applied` event and the subject it is stored on. */
export interface ExtensionAppliedWrite {
  subject: string;
  event: BeamlineEvent<"extension.applied">;
}

/**
 * The events recording `outcomes`, with deterministic ids `<requestId>:ext.<stage>.<index>`
 * (also the JetStream message id), so a redelivered worker writing them again stores nothing new.
 */
export function extensionAppliedEvents(
  outcomes: readonly StepOutcome[],
  context: EventContext,
  now: Date,
): ExtensionAppliedWrite[] {
  return outcomes.map((outcome) => {
    const slot = extensionSlot(outcome);
    const data: BeamlineEvent<"extension.applied">["data"] = {
      stage: outcome.stage,
      index: outcome.index,
      name: outcome.name,
      version: outcome.version,
      kind: outcome.kind,
      verdict: outcome.verdict,
      failureMode: outcome.failureMode,
      durationMs: Math.max(0, outcome.durationMs),
    };
    if (outcome.reason !== undefined) data.reason = outcome.reason;
    if (outcome.summary !== undefined) data.summary = outcome.summary;
    if (outcome.changes !== undefined) data.changes = outcome.changes;
    if (outcome.error !== undefined) data.error = outcome.error;
    if (outcome.streamed !== undefined) data.streamed = outcome.streamed;
    return {
      subject: requestSubject(context.tenant, context.requestId, slot),
      event: makeEvent("extension.applied", `${context.requestId}:${slot}`, context, data, now),
    };
  });
}
