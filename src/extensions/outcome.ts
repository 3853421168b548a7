import { BeamlineError, type ErrorCode } from "../errors/index.js";
import type { ExtensionStage, PipelineStep } from "../routing/index.js";
import { extensionRef } from "./types.js";

/** What one pipeline step did; becomes one `extension.applied` event. Never holds the text itself. */
export interface StepOutcome {
  stage: ExtensionStage;
  /** Position of the step within its stage, from 0. */
  index: number;
  name: string;
  version: string;
  /** `unresolved`: the step names an extension that is neither built in nor registered. */
  kind: "builtin" | "external" | "unresolved";
  /** `error`: the step failed or timed out and its failure mode applied. */
  verdict: "allow" | "modify" | "reject" | "error";
  failureMode: PipelineStep["failureMode"];
  reason?: string;
  summary?: string;
  /** Counts of what changed, e.g. `{ "masked.email": 2 }`. */
  changes?: Record<string, number>;
  error?: { code: ErrorCode; message: string };
  /** Whether the step ran chunk by chunk over a streamed response. */
  streamed?: boolean;
  /** Time spent in the step, in milliseconds (for a stream: the sum over all chunks). */
  durationMs: number;
}

/** Names the extension, stage and step that ended a request; the gateway answers its 4xx/5xx. */
export class ExtensionError extends BeamlineError {
  readonly extension: { name: string; version: string; stage: ExtensionStage; index: number };

  constructor(code: ErrorCode, message: string, outcome: StepOutcome, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = "ExtensionError";
    this.extension = {
      name: outcome.name,
      version: outcome.version,
      stage: outcome.stage,
      index: outcome.index,
    };
  }
}

/** The error a rejecting or failed fail-closed step ends the request with. */
export function errorForOutcome(outcome: StepOutcome): ExtensionError {
  const ref = extensionRef(outcome.name, outcome.version);
  const where = `${outcome.stage} step ${outcome.index}`;
  if (outcome.verdict === "reject") {
    const what = outcome.stage === "post" ? "response" : "request";
    return new ExtensionError(
      "BL_EXTENSION_REJECTED",
      `the ${what} was rejected by extension ${ref} (${where}): ${outcome.reason ?? "no reason given"}`,
      outcome,
    );
  }
  const error = outcome.error ?? { code: "BL_EXTENSION_FAILED" as const, message: "extension failed" };
  return new ExtensionError(error.code, `${error.message} (${where}, fail-closed)`, outcome);
}

/** Turns anything a step threw into the code and message its outcome records. */
export function stepError(error: unknown, ref: string): { code: ErrorCode; message: string } {
  if (error instanceof BeamlineError && error.code.startsWith("BL_EXTENSION_")) {
    return { code: error.code, message: error.message };
  }
  // Settings that fail their schema land here too: the message lists the field, not the value.
  const message = error instanceof Error ? error.message : String(error);
  return { code: "BL_EXTENSION_FAILED", message: `extension ${ref} failed: ${message.slice(0, 500)}` };
}
