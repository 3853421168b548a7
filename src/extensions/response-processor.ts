import type { ChatCompletion, ChatCompletionChunk } from "../chat/wire.js";
import type { Pipeline, PipelineStep } from "../routing/policy/pipeline-schema.js";
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

/**
 * Builds the post-processor of one response. In a stream, built-in steps that can work
 * chunk by chunk (`pii`, `limit`) transform each chunk as it passes, holding back what they
 * must; the other steps (external extensions, `content-policy`) need the whole text and run
 * in `completeStream` on the assembled completion: their `modify` changes the stored
 * completion only, and their `reject` fails the request after the chunks were sent.
 */
export function createResponseProcessor(pipeline: Pipeline, ctx: PipelineContext): ResponseProcessor {
  const now = ctx.now ?? (() => performance.now());
  const streamSteps: StreamStep[] = [];
  const wholeSteps: { index: number; step: PipelineStep }[] = [];
  /** Outcomes of stream steps whose settings failed (fail-open: recorded, skipped). */
  const setupOutcomes: StepOutcome[] = [];
  let setupRejection: ChunkResult["rejection"];
  let streamPrepared = false;
  let lastChunk: ChatCompletionChunk | undefined;
  const finishedChoices = new Set<number>();
  let stopped: ChunkResult["rejection"];

  function prepareStream(): void {
    if (streamPrepared) return;
    streamPrepared = true;
    pipeline.post.forEach((step, index) => {
      const resolved = ctx.resolver.resolve(step.name, step.version);
      const ext = resolved?.kind === "builtin" ? resolved.extension : undefined;
      if (ext?.createStreamTransform === undefined || !ext.stages.includes("post")) {
        wholeSteps.push({ index, step });
        return;
      }
      const started = now();
      try {
        const settings = ext.parseSettings(step.settings);
        const factory = ext.createStreamTransform.bind(ext);
        streamSteps.push({
          index,
          step,
          create: () => factory(settings),
          transforms: new Map(),
          durationMs: 0,
        });
      } catch (error) {
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
          durationMs: now() - started,
        };
        setupOutcomes.push(outcome);
        if (step.failureMode === "fail-closed" && setupRejection === undefined) {
          setupRejection = { error: errorForOutcome(outcome), outcomes: [...setupOutcomes] };
        }
      }
    });
  }

  function transformFor(s: StreamStep, choice: number): TextStreamTransform {
    let transform = s.transforms.get(choice);
    if (transform === undefined) {
      transform = s.create();
      s.transforms.set(choice, transform);
    }
    return transform;
  }

  /** Pushes text through the chain; with `flush`, ends each transform in order. */
  function runChain(choice: number, text: string, flush: boolean): string {
    let carry = text;
    for (const s of streamSteps) {
      const started = now();
      carry = transformFor(s, choice).push(carry);
      s.durationMs += now() - started;
    }
    if (!flush) return carry;
    for (let i = 0; i < streamSteps.length; i += 1) {
      const s = streamSteps[i] as StreamStep;
      const started = now();
      let tail = transformFor(s, choice).end();
      s.durationMs += now() - started;
      for (let j = i + 1; j < streamSteps.length; j += 1) {
        const next = streamSteps[j] as StreamStep;
        const nextStarted = now();
        tail = transformFor(next, choice).push(tail);
        next.durationMs += now() - nextStarted;
      }
      carry += tail;
    }
    return carry;
  }

  function streamOutcomes(): StepOutcome[] {
    const outcomes = [...setupOutcomes];
    for (const s of streamSteps) {
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
      outcomes.push(outcome);
    }
    return outcomes.sort((a, b) => a.index - b.index);
  }

  function checkRejection(): ChunkResult["rejection"] {
    for (const s of streamSteps) {
      for (const transform of s.transforms.values()) {
        if (transform.rejection !== undefined) {
          const outcomes = streamOutcomes();
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
    steps: readonly { index: number; step: PipelineStep }[],
    completion: ChatCompletion,
    outcomes: StepOutcome[],
  ): Promise<ResponseResult> {
    let current = completion;
    for (const { index, step } of steps) {
      const run = await runStep<ChatCompletion>(
        "post",
        index,
        step,
        { kind: "response", value: current },
        ctx,
      );
      outcomes.push(run.outcome);
      const { verdict } = run.outcome;
      if (verdict === "reject" || (verdict === "error" && step.failureMode === "fail-closed")) {
        return { kind: "reject", error: errorForOutcome(run.outcome), outcomes };
      }
      current = run.value;
    }
    return { kind: "continue", completion: current, outcomes };
  }

  function finishReasonOverride(choice: number): string | undefined {
    for (const s of streamSteps) {
      const reason = s.transforms.get(choice)?.finishReason;
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  return {
    processCompletion(completion) {
      return runWholeSteps(
        pipeline.post.map((step, index) => ({ index, step })),
        completion,
        [],
      );
    },

    transformChunk(chunk) {
      prepareStream();
      if (setupRejection !== undefined) return { chunks: [], rejection: setupRejection };
      if (stopped !== undefined) return { chunks: [], rejection: stopped };
      lastChunk = chunk;
      if (streamSteps.length === 0) return { chunks: [chunk] };
      let emptied = 0;
      const choices = chunk.choices.map((choice) => {
        const original = choice.delta.content ?? "";
        const finishing = choice.finish_reason !== null;
        if (original === "" && !finishing) return choice;
        const text = runChain(choice.index, original, finishing);
        if (finishing) finishedChoices.add(choice.index);
        if (original !== "" && text === "") emptied += 1;
        const finishReason = finishing ? (finishReasonOverride(choice.index) ?? choice.finish_reason) : null;
        return { ...choice, delta: { ...choice.delta, content: text }, finish_reason: finishReason };
      });
      stopped = checkRejection();
      if (stopped !== undefined) return { chunks: [], rejection: stopped };
      // A chunk whose only content is now held back carries nothing a client needs.
      const onlyHeldText =
        emptied === chunk.choices.length &&
        (chunk.usage ?? null) === null &&
        choices.every(
          (c) => c.delta.role === undefined && c.delta.tool_calls === undefined && c.finish_reason === null,
        );
      return { chunks: onlyHeldText ? [] : [{ ...chunk, choices }] };
    },

    endStream() {
      prepareStream();
      if (setupRejection !== undefined) return { chunks: [], rejection: setupRejection };
      if (stopped !== undefined) return { chunks: [], rejection: stopped };
      const template = lastChunk;
      const chunks: ChatCompletionChunk[] = [];
      const open = new Set<number>();
      for (const s of streamSteps)
        for (const choice of s.transforms.keys()) if (!finishedChoices.has(choice)) open.add(choice);
      for (const choice of [...open].sort((a, b) => a - b)) {
        const text = runChain(choice, "", true);
        finishedChoices.add(choice);
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
      stopped = checkRejection();
      if (stopped !== undefined) return { chunks: [], rejection: stopped };
      return { chunks };
    },

    async completeStream(assembled) {
      prepareStream();
      const outcomes = streamOutcomes();
      if (setupRejection !== undefined) return { kind: "reject", error: setupRejection.error, outcomes };
      if (stopped !== undefined) return { kind: "reject", error: stopped.error, outcomes };
      const result = await runWholeSteps(wholeSteps, assembled, outcomes);
      // The stream steps' outcomes came first; report all of them in pipeline order.
      result.outcomes.sort((a, b) => a.index - b.index);
      return result;
    },
  };
}
