import type { ChatRequest } from "../chat/wire.js";
import { BeamlineError } from "../errors/index.js";
import { causedBy } from "../events/index.js";
import {
  type ExtensionError,
  extensionAppliedEvents,
  runRequestStages,
  type StepOutcome,
} from "../extensions/index.js";
import type { VersionedPolicy } from "../routing/policy/document.js";
import type { AcceptedEvent, WorkerDeps } from "./context.js";

export type AdmitOutcome =
  | { kind: "continue"; request: ChatRequest; changed: boolean }
  | { kind: "refuse"; error: BeamlineError; stage: string };

/**
 * The admit step, before routing: the tenant must be active (requests published straight
 * onto NATS met no gateway), then the tenant's `pre` and `validate` extensions run in
 * pipeline order. Every step's outcome is stored (`ext.<stage>.<index>` slots, write-once)
 * before the request goes on, so a rejection is on record and never reaches a provider.
 */
export async function admit(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  policy: VersionedPolicy,
): Promise<AdmitOutcome> {
  if (deps.tenants.get(accepted.tenant)?.status === "disabled") {
    return {
      kind: "refuse",
      stage: "admit",
      error: new BeamlineError("BL_TENANT_DISABLED", `tenant ${accepted.tenant} is disabled`),
    };
  }
  const pipeline = policy.document.pipeline;
  const request = accepted.data.request;
  if (pipeline.pre.length === 0 && pipeline.validate.length === 0) {
    return { kind: "continue", request, changed: false };
  }
  const result = await runRequestStages(pipeline, request, {
    tenant: accepted.tenant,
    requestId: accepted.requestId,
    resolver: deps.extensions.resolver,
    external: deps.extensions.external,
  });
  await storeOutcomes(deps, accepted, result.outcomes);
  if (result.kind === "reject")
    return { kind: "refuse", error: result.error, stage: result.error.extension.stage };
  const changed = result.outcomes.some((outcome) => outcome.verdict === "modify");
  return { kind: "continue", request: changed ? result.request : request, changed };
}

/** Stores extension outcomes; a redelivery's second write of a slot is a harmless duplicate. */
export async function storeOutcomes(
  deps: WorkerDeps,
  cause: AcceptedEvent | Parameters<typeof causedBy>[0],
  outcomes: readonly StepOutcome[],
): Promise<void> {
  if (outcomes.length === 0) return;
  const writes = extensionAppliedEvents(outcomes, causedBy(cause), deps.now());
  await Promise.all(writes.map(({ subject, event }) => deps.store.append(subject, event, { once: true })));
}

/** The `extension` field of a request.failed ended by `error`. */
export function extensionOf(
  error: BeamlineError,
): { name: string; version: string; stage: "pre" | "validate" | "post" } | undefined {
  const extension = (error as Partial<ExtensionError>).extension;
  return extension ? { name: extension.name, version: extension.version, stage: extension.stage } : undefined;
}
