import type { ChatRequest } from "../chat/index.js";
import type { Pipeline } from "../routing/index.js";
import { type ExtensionError, errorForOutcome, type StepOutcome } from "./outcome.js";
import { type PipelineContext, runStep } from "./run-step.js";

/** The request went on (possibly changed), or a step ended it; `outcomes` lists every step that ran. */
export type RequestStagesResult =
  | { kind: "continue"; request: ChatRequest; outcomes: StepOutcome[] }
  | { kind: "reject"; error: ExtensionError; outcomes: StepOutcome[] };

/**
 * Runs the `pre` steps, then the `validate` steps, in pipeline order, each on the request
 * the previous one produced. A step that rejects, or fails with `fail-closed`, stops the
 * run; a step that fails with `fail-open` is recorded and skipped. Steps after a rejection
 * do not run and have no outcome.
 */
export async function runRequestStages(
  pipeline: Pipeline,
  request: ChatRequest,
  ctx: PipelineContext,
): Promise<RequestStagesResult> {
  const outcomes: StepOutcome[] = [];
  let current = request;
  for (const stage of ["pre", "validate"] as const) {
    const steps = pipeline[stage];
    for (let index = 0; index < steps.length; index += 1) {
      const step = steps[index];
      if (step === undefined) continue;
      const run = await runStep<ChatRequest>(stage, index, step, { kind: "request", value: current }, ctx);
      outcomes.push(run.outcome);
      const { verdict } = run.outcome;
      if (verdict === "reject" || (verdict === "error" && step.failureMode === "fail-closed")) {
        return { kind: "reject", error: errorForOutcome(run.outcome), outcomes };
      }
      current = run.value;
    }
  }
  return { kind: "continue", request: current, outcomes };
}
