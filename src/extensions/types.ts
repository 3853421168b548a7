import type { ChatCompletion, ChatRequest } from "../chat/index.js";
import type { ExtensionStage } from "../routing/index.js";

/**
 * What one step decided. `modify` carries the changed value; `summary` says what changed
 * without repeating it (counts, field names), because it is stored in an event.
 */
export type StepVerdict<T> =
  | { verdict: "allow"; summary?: string; changes?: Record<string, number> }
  | { verdict: "modify"; value: T; summary: string; changes?: Record<string, number> }
  | { verdict: "reject"; reason: string; summary?: string; changes?: Record<string, number> };

/**
 * A text transform over a stream of pieces (one per choice): `push` returns what may be sent
 * now, `end` the rest. The concatenated output must not depend on how the input was split.
 */
export interface TextStreamTransform {
  push(piece: string): string;
  end(): string;
  /** Set once the transform wants the stream stopped (a limiter in reject mode). */
  readonly rejection?: string;
  /** Set once the transform cut the text short: the choice must finish with this reason. */
  readonly finishReason?: string;
  /** What changed so far, for the step's outcome. */
  summary(): { summary: string; changes?: Record<string, number> } | undefined;
}

/**
 * An extension that runs inside the worker. Settings are validated by `parseSettings` once per
 * call (they come from the tenant's policy, which may change at any time); it throws on
 * invalid settings, which the runner treats as the step failing.
 */
export interface BuiltinExtension<S = unknown> {
  name: string;
  version: string;
  /** Stages the extension may be configured in. */
  stages: readonly ExtensionStage[];
  description: string;
  parseSettings(settings: unknown): S;
  onRequest?(request: ChatRequest, settings: S): StepVerdict<ChatRequest>;
  onCompletion?(completion: ChatCompletion, settings: S): StepVerdict<ChatCompletion>;
  /** One transform per choice of a streamed response; absent when the step needs the whole text. */
  createStreamTransform?(settings: S): TextStreamTransform;
}

/** `name/version`, as outcomes, errors and docs write an extension. */
export function extensionRef(name: string, version: string): string {
  return `${name}/${version}`;
}
