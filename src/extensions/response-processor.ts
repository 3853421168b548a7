import type { ChatCompletion, ChatCompletionChunk } from "../chat/index.js";
import type { Pipeline, PipelineStep } from "../routing/index.js";
import { type ExtensionError, errorForOutcome, type StepOutcome, stepError } from "./outcome.js";
import { type PipelineContext, runStep } from "./run-step.js";
import { extensionRef, type TextStreamTransform } from "./types.js";

/** The completion went on (possibly changed), or a step ended it. */
export type ResponseResult =
  | { kind: "continue"; completion: ChatCompletion; outcomes: StepOutcome[] }
  | { kind: "reject"; error: ExtensionError; outcomes: StepOutcome[] };

/** Chunks to send now; with `rejection`, send none and end the stream with that error. */
export interface ChunkResult {
  chunks: ChatCompletionChunk[];
  rejection?: { error: ExtensionError; outcomes: StepOutcome[] };
}

/**
 * Post-processing of one response. Use `processCompletion` for a non-streamed answer, or
 * `transformChunk` for every chunk, `endStream` when the provider's stream ended, then
 * `completeStream` with the completion assembled from the chunks actually sent.
 */
export interface ResponseProcessor {
  processCompletion(completion: ChatCompletion): Promise<ResponseResult>;
  transformChunk(chunk: ChatCompletionChunk): ChunkResult;
  endStream(): ChunkResult;
  completeStream(assembled: ChatCompletion): Promise<ResponseResult>;
}

interface StreamStep {
  index: number;
  step: PipelineStep;
  create: () => TextStreamTransform;
  /** Per choice index. */
  transforms: Map<number, TextStreamTransform>;
  durationMs: number;
}

interface WholeStep {
  index: number;
  step: PipelineStep;
}

type Rejection = ChunkResult["rejection"];

/** What one response's post-processing holds between calls. */
interface ProcessorState {
  pipeline: Pipeline;
  ctx: PipelineContext;
  /** Milliseconds, for step durations only. */
  now: () => number;
  streamSteps: StreamStep[];
  wholeSteps: WholeStep[];
  /** Outcomes of stream steps whose settings failed (fail-open: recorded, skipped). */
  setupOutcomes: StepOutcome[];
  setupRejection: Rejection;
  streamPrepared: boolean;
  lastChunk: ChatCompletionChunk | undefined;
  finishedChoices: Set<number>;
  stopped: Rejection;
}

/**
 * Builds the post-processor of one response. In a stream, built-in steps that can work
 * chunk by chunk (`pii`, `limit`) transform each chunk as it passes, holding back what they
 * must; the other steps (external extensions, `content-policy`) need the whole text and run
 * in `completeStream` on the assembled completion: their `modify` changes the stored
 * completion only, and their `reject` fails the request after the chunks were sent.
 */
export function createResponseProcessor(pipeline: Pipeline, ctx: PipelineContext): ResponseProcessor {
  const state: ProcessorState = {
    pipeline,
    ctx,
    now: ctx.now ?? (() => performance.now()),
    streamSteps: [],
    wholeSteps: [],
    setupOutcomes: [],
    setupRejection: undefined,
    streamPrepared: false,
    lastChunk: undefined,
    finishedChoices: new Set(),
    stopped: undefined,
  };
  return {
    processCompletion: (completion) =>
      runWholeSteps(
        ctx,
        pipeline.post.map((step, index) => ({ index, step })),
        completion,
        [],
      ),
    transformChunk: (chunk) => transformChunk(state, chunk),
    endStream: () => endStream(state),
    completeStream: (assembled) => completeStream(state, assembled),
  };
}

/** Sorts the post steps, once, into those that stream chunk by chunk and those that need the whole text. */
function prepareStream(state: ProcessorState): void {
  if (state.streamPrepared) return;
  state.streamPrepared = true;
  state.pipeline.post.forEach((step, index) => {
    const resolved = state.ctx.resolver.resolve(step.name, step.version);
    const ext = resolved?.kind === "builtin" ? resolved.extension : undefined;
    if (ext?.createStreamTransform === undefined || !ext.stages.includes("post")) {
      state.wholeSteps.push({ index, step });
      return;
    }
    const started = state.now();
    try {
      const settings = ext.parseSettings(step.settings);
      const factory = ext.createStreamTransform.bind(ext);
      state.streamSteps.push({
        index,
        step,
        create: () => factory(settings),
        transforms: new Map(),
        durationMs: 0,
      });
    } catch (error) {
      recordSetupFailure(state, index, step, error, state.now() - started);
    }
  });
}

/** A stream step whose settings failed: recorded; a fail-closed one refuses the stream. */
function recordSetupFailure(
  state: ProcessorState,
  index: number,
  step: PipelineStep,
  error: unknown,
  durationMs: number,
): void {
  const outcome: StepOutcome = {
    stage: "post",
    index,
    name: step.name,
    version: step.version,
    kind: "builtin",
    verdict: "error",
    failureMode: step.failureMode,
    error: stepError(error, extensionRef(step.name, step.version)),
    streamed: true,
    durationMs,
  };
  state.setupOutcomes.push(outcome);
  if (step.failureMode === "fail-closed" && state.setupRejection === undefined) {
    state.setupRejection = { error: errorForOutcome(outcome), outcomes: [...state.setupOutcomes] };
  }
}

/** The rejection that already ended the stream, if any. */
function haltedBy(state: ProcessorState): Rejection {
  return state.setupRejection ?? state.stopped;
}

function transformFor(s: StreamStep, choice: number): TextStreamTransform {
  let transform = s.transforms.get(choice);
  if (transform === undefined) {
    transform = s.create();
    s.transforms.set(choice, transform);
  }
  return transform;
}

/** Runs `work` for stream step `s`, adding its time to the step's duration. */
function timed<T>(state: ProcessorState, s: StreamStep, work: () => T): T {
  const started = state.now();
  const result = work();
  s.durationMs += state.now() - started;
  return result;
}

/** Pushes text through the chain; with `flush`, ends each transform in order. */
function runChain(state: ProcessorState, choice: number, text: string, flush: boolean): string {
  let carry = text;
  for (const s of state.streamSteps) carry = timed(state, s, () => transformFor(s, choice).push(carry));
  return flush ? carry + flushChain(state, choice) : carry;
}

/** Ends each transform in order, passing what it still held through the steps after it. */
function flushChain(state: ProcessorState, choice: number): string {
  const steps = state.streamSteps;
  let flushed = "";
  for (let i = 0; i < steps.length; i += 1) {
    const s = steps[i] as StreamStep;
    let tail = timed(state, s, () => transformFor(s, choice).end());
    for (const next of steps.slice(i + 1))
      tail = timed(state, next, () => transformFor(next, choice).push(tail));
    flushed += tail;
  }
  return flushed;
}

function streamOutcomes(state: ProcessorState): StepOutcome[] {
  const outcomes = [...state.setupOutcomes, ...state.streamSteps.map(streamStepOutcome)];
  return outcomes.sort((a, b) => a.index - b.index);
}

/** One stream step's outcome over all the choices it transformed. */
function streamStepOutcome(s: StreamStep): StepOutcome {
  const changes: Record<string, number> = {};
  const summaries: string[] = [];
  let rejection: string | undefined;
  for (const transform of s.transforms.values()) {
    const described = transform.summary();
    if (described !== undefined) {
      summaries.push(described.summary);
      for (const [key, count] of Object.entries(described.changes ?? {}))
        changes[key] = (changes[key] ?? 0) + count;
    }
    rejection ??= transform.rejection;
  }
  const outcome: StepOutcome = {
    stage: "post",
    index: s.index,
    name: s.step.name,
    version: s.step.version,
    kind: "builtin",
    verdict: rejection !== undefined ? "reject" : summaries.length > 0 ? "modify" : "allow",
    failureMode: s.step.failureMode,
    streamed: true,
    durationMs: s.durationMs,
  };
  if (rejection !== undefined) outcome.reason = rejection;
  if (summaries.length > 0) outcome.summary = summaries.join("; ");
  if (Object.keys(changes).length > 0) outcome.changes = changes;
  return outcome;
}

function checkRejection(state: ProcessorState): Rejection {
  for (const s of state.streamSteps) {
    for (const transform of s.transforms.values()) {
      if (transform.rejection !== undefined) {
        const outcomes = streamOutcomes(state);
        const rejecting = outcomes.find((o) => o.index === s.index) as StepOutcome;
        return { error: errorForOutcome(rejecting), outcomes };
      }
    }
  }
  return undefined;
}

/**
 * Runs `steps` in order on the whole completion, adding each outcome to `outcomes`. A reject,
 * or an error of a fail-closed step, ends the response; a fail-open error leaves it unchanged.
 */
async function runWholeSteps(
  ctx: PipelineContext,
  steps: readonly WholeStep[],
  completion: ChatCompletion,
  outcomes: StepOutcome[],
): Promise<ResponseResult> {
  let current = completion;
  for (const { index, step } of steps) {
    const run = await runStep<ChatCompletion>("post", index, step, { kind: "response", value: current }, ctx);
    outcomes.push(run.outcome);
    const { verdict } = run.outcome;
    if (verdict === "reject" || (verdict === "error" && step.failureMode === "fail-closed")) {
      return { kind: "reject", error: errorForOutcome(run.outcome), outcomes };
    }
    current = run.value;
  }
  return { kind: "continue", completion: current, outcomes };
}

function finishReasonOverride(state: ProcessorState, choice: number): string | undefined {
  for (const s of state.streamSteps) {
    const reason = s.transforms.get(choice)?.finishReason;
    if (reason !== undefined) return reason;
  }
  return undefined;
}

function transformChunk(state: ProcessorState, chunk: ChatCompletionChunk): ChunkResult {
  prepareStream(state);
  const halted = haltedBy(state);
  if (halted !== undefined) return { chunks: [], rejection: halted };
  state.lastChunk = chunk;
  if (state.streamSteps.length === 0) return { chunks: [chunk] };
  let emptied = 0;
  const choices = chunk.choices.map((choice) => {
    const original = choice.delta.content ?? "";
    const finishing = choice.finish_reason !== null;
    if (original === "" && !finishing) return choice;
    const text = runChain(state, choice.index, original, finishing);
    if (finishing) state.finishedChoices.add(choice.index);
    if (original !== "" && text === "") emptied += 1;
    const finishReason = finishing
      ? (finishReasonOverride(state, choice.index) ?? choice.finish_reason)
      : null;
    return { ...choice, delta: { ...choice.delta, content: text }, finish_reason: finishReason };
  });
  state.stopped = checkRejection(state);
  if (state.stopped !== undefined) return { chunks: [], rejection: state.stopped };
  return { chunks: onlyHeldText(chunk, choices, emptied) ? [] : [{ ...chunk, choices }] };
}

/** A chunk whose only content is now held back carries nothing a client needs. */
function onlyHeldText(
  chunk: ChatCompletionChunk,
  choices: ChatCompletionChunk["choices"],
  emptied: number,
): boolean {
  return (
    emptied === chunk.choices.length &&
    (chunk.usage ?? null) === null &&
    choices.every(
      (c) => c.delta.role === undefined && c.delta.tool_calls === undefined && c.finish_reason === null,
    )
  );
}

/** The provider's stream ended: flushes what the stream steps still hold for unfinished choices. */
function endStream(state: ProcessorState): ChunkResult {
  prepareStream(state);
  const halted = haltedBy(state);
  if (halted !== undefined) return { chunks: [], rejection: halted };
  const template = state.lastChunk;
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of openChoices(state)) {
    const text = runChain(state, choice, "", true);
    state.finishedChoices.add(choice);
    if (text !== "" && template !== undefined) {
      chunks.push({
        id: template.id,
        object: "chat.completion.chunk",
        created: template.created,
        model: template.model,
        choices: [{ index: choice, delta: { content: text }, finish_reason: null }],
      });
    }
  }
  state.stopped = checkRejection(state);
  if (state.stopped !== undefined) return { chunks: [], rejection: state.stopped };
  return { chunks };
}

/** Choices some stream step saw that never finished, in index order. */
function openChoices(state: ProcessorState): number[] {
  const open = new Set<number>();
  for (const s of state.streamSteps)
    for (const choice of s.transforms.keys()) if (!state.finishedChoices.has(choice)) open.add(choice);
  return [...open].sort((a, b) => a - b);
}

async function completeStream(state: ProcessorState, assembled: ChatCompletion): Promise<ResponseResult> {
  prepareStream(state);
  const outcomes = streamOutcomes(state);
  const halted = haltedBy(state);
  if (halted !== undefined) return { kind: "reject", error: halted.error, outcomes };
  const result = await runWholeSteps(state.ctx, state.wholeSteps, assembled, outcomes);
  // The stream steps' outcomes came first; report all of them in pipeline order.
  result.outcomes.sort((a, b) => a.index - b.index);
  return result;
}
