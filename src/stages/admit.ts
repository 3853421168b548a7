import type { ChatRequest } from "../chat/index.js";
import { BeamlineError, type ErrorCode, ErrorCodes } from "../errors/index.js";
import { causedBy, isEvent, requestSubject } from "../events/index.js";
import {
  type ExtensionError,
  errorForOutcome,
  extensionAppliedEvents,
  extensionSlot,
  type Pipeline,
  runRequestStages,
  type StepOutcome,
} from "../extensions/index.js";
import { StreamNames } from "../nats/index.js";
import type { VersionedPolicy } from "../routing/index.js";
import { type AcceptedEvent, stageNow, type WorkerDeps } from "./context.js";
import { routedRequestOf } from "./operation.js";

export type AdmitOutcome =
  | { kind: "continue"; request: ChatRequest; changed: boolean }
  | { kind: "refuse"; error: BeamlineError; stage: string };

/**
 * The admit step, before routing: the tenant must be active (requests published straight
 * onto NATS met no gateway), then the tenant's `pre` and `validate` extensions run in
 * pipeline order. Every step's outcome is stored (`ext.<stage>.<index>` slots, write-once)
 * before the request goes on, so a rejection is on record and never reaches a provider.
 *
 * A `redelivered` request may find outcomes an earlier delivery stored before it crashed.
 * A stored rejection stands: the request is refused with it instead of asking the extensions
 * again, whose answer may differ now (a timeout that no longer happens, an extension since
 * removed under fail-open) — otherwise the log would show a rejection followed by a provider
 * call. Only a redelivery pays for reading the slots.
 */
export async function admit(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  policy: VersionedPolicy,
  redelivered = false,
): Promise<AdmitOutcome> {
  const status = deps.tenants.get(accepted.tenant)?.status;
  if (status === "disabled" || status === "erased") {
    return {
      kind: "refuse",
      stage: "admit",
      error:
        status === "erased"
          ? new BeamlineError("BL_TENANT_ERASED", `tenant ${accepted.tenant} was erased`)
          : new BeamlineError("BL_TENANT_DISABLED", `tenant ${accepted.tenant} is disabled`),
    };
  }
  const pipeline = policy.document.pipeline;
  const request = routedRequestOf(accepted);
  if (pipeline.pre.length === 0 && pipeline.validate.length === 0) {
    return { kind: "continue", request, changed: false };
  }
  if (redelivered) {
    const stored = await storedRefusal(deps, accepted, pipeline);
    if (stored) return { kind: "refuse", error: stored, stage: stored.extension.stage };
  }
  const result = await runRequestStages(pipeline, request, {
    tenant: accepted.tenant,
    requestId: accepted.requestId,
    resolver: deps.extensions.resolver,
    external: deps.extensions.external,
    traceparent: accepted.traceparent,
  });
  await storeOutcomes(deps, accepted, result.outcomes);
  if (result.kind === "reject")
    return { kind: "refuse", error: result.error, stage: result.error.extension.stage };
  const changed = result.outcomes.some((outcome) => outcome.verdict === "modify");
  return { kind: "continue", request: changed ? result.request : request, changed };
}

/** The refusal an earlier delivery stored for a `pre` or `validate` step, if any. */
async function storedRefusal(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  pipeline: Pipeline,
): Promise<ExtensionError | undefined> {
  for (const stage of ["pre", "validate"] as const) {
    for (let index = 0; index < pipeline[stage].length; index += 1) {
      const subject = requestSubject(accepted.tenant, accepted.requestId, extensionSlot({ stage, index }));
      const event = await deps.store.readLast(StreamNames.requests, subject);
      if (!event || !isEvent(event, "extension.applied")) continue;
      const { error, ...rest } = event.data;
      const outcome: StepOutcome = rest;
      // A code this version does not know (written by a newer one) reads as a plain failure.
      if (error) {
        outcome.error = {
          code: error.code in ErrorCodes ? (error.code as ErrorCode) : "BL_EXTENSION_FAILED",
          message: error.message,
        };
      }
      if (
        outcome.verdict === "reject" ||
        (outcome.verdict === "error" && outcome.failureMode === "fail-closed")
      ) {
        return errorForOutcome(outcome);
      }
    }
  }
  return undefined;
}

/** Stores extension outcomes; a redelivery's second write of a slot is a harmless duplicate. */
export async function storeOutcomes(
  deps: WorkerDeps,
  cause: AcceptedEvent | Parameters<typeof causedBy>[0],
  outcomes: readonly StepOutcome[],
): Promise<void> {
  if (outcomes.length === 0) return;
  observeSteps(deps, outcomes);
  const writes = extensionAppliedEvents(outcomes, causedBy(cause), stageNow(deps));
  await Promise.all(writes.map(({ subject, event }) => deps.store.append(subject, event, { once: true })));
}

/** The `extension` field of a request.failed ended by `error`. */
export function extensionOf(
  error: BeamlineError,
): { name: string; version: string; stage: "pre" | "validate" | "post" } | undefined {
  const extension = (error as Partial<ExtensionError>).extension;
  return extension ? { name: extension.name, version: extension.version, stage: extension.stage } : undefined;
}

/**
 * Step outcomes and durations. The `extension` label names registered extensions only: a
 * policy may name anything, and its inventions must not become label values.
 */
function observeSteps(deps: WorkerDeps, outcomes: readonly StepOutcome[]): void {
  for (const outcome of outcomes) {
    const extension = outcome.kind === "unresolved" ? "(unregistered)" : `${outcome.name}@${outcome.version}`;
    deps.metrics.extensionSteps.inc({ stage: outcome.stage, extension, verdict: outcome.verdict });
    deps.metrics.extensionStepDuration.observe(
      { stage: outcome.stage, extension },
      outcome.durationMs / 1000,
    );
  }
}
