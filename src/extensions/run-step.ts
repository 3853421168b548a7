import type { ChatCompletion, ChatRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import { contextFromTraceparent, endSpan, startSpan, traceContextOf } from "../observability/index.js";
import type { ExtensionStage, PipelineStep } from "../routing/index.js";
import { EXTENSION_CONTRACT_VERSION, type ExtensionCall } from "./contract.js";
import type { ExternalExtensionCaller } from "./external-client.js";
import { type StepOutcome, stepError } from "./outcome.js";
import type { ExtensionResolver } from "./registry.js";
import { extensionRef, type StepVerdict } from "./types.js";

/** Everything the runner needs besides the pipeline and the payload. */
export interface PipelineContext {
  tenant: string;
  requestId: string;
  resolver: ExtensionResolver;
  /** Needed only when the pipeline holds external steps. */
  external?: ExternalExtensionCaller;
  /** Monotonic milliseconds, for durations; `performance.now` by default. */
  now?: () => number;
  /**
   * The request's trace position (the worker span's `traceparent`): each step's span is its
   * child, and an external step's call carries the step span's context to the extension.
   */
  traceparent?: string | undefined;
}

type Payload = { kind: "request"; value: ChatRequest } | { kind: "response"; value: ChatCompletion };

/** A step's result: the outcome to record and, for `modify`, the new payload. */
export interface StepRun<T> {
  outcome: StepOutcome;
  value: T;
}

function baseOutcome(
  stage: ExtensionStage,
  index: number,
  step: PipelineStep,
): Omit<StepOutcome, "kind" | "verdict" | "durationMs"> {
  return { stage, index, name: step.name, version: step.version, failureMode: step.failureMode };
}

/** Copies a verdict's fields into an outcome, leaving optional fields out rather than undefined. */
export function outcomeFromVerdict<T>(
  base: Omit<StepOutcome, "kind" | "verdict" | "durationMs">,
  kind: StepOutcome["kind"],
  verdict: StepVerdict<T>,
  durationMs: number,
): StepOutcome {
  const outcome: StepOutcome = { ...base, kind, verdict: verdict.verdict, durationMs };
  if (verdict.verdict === "reject") outcome.reason = verdict.reason;
  if (verdict.summary !== undefined) outcome.summary = verdict.summary;
  if (verdict.changes !== undefined) outcome.changes = verdict.changes;
  return outcome;
}

async function externalVerdict<T>(
  step: PipelineStep,
  stage: ExtensionStage,
  payload: Payload,
  ctx: PipelineContext,
  traceContext: Readonly<Record<string, string>>,
): Promise<StepVerdict<T>> {
  const ref = extensionRef(step.name, step.version);
  if (ctx.external === undefined) {
    throw new BeamlineError(
      "BL_EXTENSION_UNAVAILABLE",
      `extension ${ref} is external, but no NATS caller is configured`,
    );
  }
  const call: ExtensionCall = {
    contract: EXTENSION_CONTRACT_VERSION,
    stage,
    tenant: ctx.tenant,
    requestId: ctx.requestId,
    settings: step.settings,
  };
  if (payload.kind === "request") call.request = payload.value;
  else call.response = payload.value;
  const reply = await ctx.external.call(step.name, step.version, call, step.timeoutMs, traceContext);
  const common = {
    ...(reply.summary === undefined ? {} : { summary: reply.summary }),
  };
  if (reply.verdict === "allow") return { verdict: "allow", ...common };
  if (reply.verdict === "reject") return { verdict: "reject", reason: reply.reason ?? "rejected", ...common };
  const changed = payload.kind === "request" ? reply.request : reply.response;
  if (changed === undefined) {
    throw new BeamlineError(
      "BL_EXTENSION_FAILED",
      `extension ${ref} answered modify without the changed ${payload.kind}`,
    );
  }
  return { verdict: "modify", value: changed as T, summary: reply.summary ?? `${payload.kind} changed` };
}

/**
 * Runs one step over a whole request or completion. Never throws: a failure becomes an
 * outcome with verdict `error`, and the caller applies the step's failure mode.
 */
export async function runStep<T extends ChatRequest | ChatCompletion>(
  stage: ExtensionStage,
  index: number,
  step: PipelineStep,
  payload: Payload,
  ctx: PipelineContext,
): Promise<StepRun<T>> {
  const now = ctx.now ?? (() => performance.now());
  const started = now();
  const base = baseOutcome(stage, index, step);
  const ref = extensionRef(step.name, step.version);
  const resolved = ctx.resolver.resolve(step.name, step.version);
  const value = payload.value as T;
  let kind: StepOutcome["kind"] = resolved?.kind ?? "unresolved";
  const span = startSpan(
    `beamline.extension ${stage} ${step.name}`,
    contextFromTraceparent(ctx.traceparent),
    "internal",
    {
      "beamline.tenant": ctx.tenant,
      "beamline.request_id": ctx.requestId,
      "beamline.extension.name": step.name,
      "beamline.extension.version": step.version,
      "beamline.extension.stage": stage,
      "beamline.extension.kind": kind,
    },
  );
  try {
    if (resolved === undefined) {
      throw new BeamlineError("BL_EXTENSION_UNAVAILABLE", `extension ${ref} is not registered`);
    }
    let verdict: StepVerdict<T>;
    if (resolved.kind === "builtin") {
      const ext = resolved.extension;
      if (!ext.stages.includes(stage)) {
        throw new BeamlineError("BL_EXTENSION_FAILED", `extension ${ref} does not run in the ${stage} stage`);
      }
      const settings = ext.parseSettings(step.settings);
      const handler = payload.kind === "request" ? ext.onRequest : ext.onCompletion;
      if (handler === undefined) {
        throw new BeamlineError("BL_EXTENSION_FAILED", `extension ${ref} does not handle a ${payload.kind}`);
      }
      verdict = (handler as (v: T, s: unknown) => StepVerdict<T>)(value, settings);
    } else {
      if (!resolved.registration.stages.includes(stage)) {
        throw new BeamlineError(
          "BL_EXTENSION_FAILED",
          `extension ${ref} is not registered for the ${stage} stage`,
        );
      }
      verdict = await externalVerdict<T>(step, stage, payload, ctx, traceContextOf(span));
    }
    const outcome = outcomeFromVerdict(base, kind, verdict, now() - started);
    span.setAttribute("beamline.extension.verdict", outcome.verdict);
    endSpan(span);
    return { outcome, value: verdict.verdict === "modify" ? verdict.value : value };
  } catch (error) {
    kind = resolved?.kind ?? "unresolved";
    const failure = stepError(error, ref);
    span.setAttribute("beamline.extension.verdict", "error");
    endSpan(span, failure);
    return {
      outcome: { ...base, kind, verdict: "error", error: failure, durationMs: now() - started },
      value,
    };
  }
}
