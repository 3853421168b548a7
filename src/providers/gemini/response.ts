import type {
  ChatChoice,
  ChatChunkChoice,
  ChatCompletion,
  ChatCompletionChunk,
  ChatToolCall,
  ChatUsage,
} from "../../chat/index.js";
import type { GeminiCandidate, GeminiResponse, GeminiUsageMetadata } from "./wire.js";

/** What a translation needs besides the response; passed in so translation stays pure. */
export interface ResponseContext {
  /** The model asked for; used when the response carries no `modelVersion`. */
  upstreamModel: string;
  /** Unix time in seconds for `created`. */
  created: number;
  /** Completion id used when the response carries no `responseId`. */
  fallbackId: string;
  /** Id of a tool call Gemini sent without one (older API versions never send ids). */
  newToolCallId: () => string;
}

/**
 * OpenAI finish reason of a Gemini one. Function calls end with `STOP` on Gemini, so a
 * candidate that called a function finishes with `tool_calls`; every safety-style stop
 * (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, LANGUAGE) is
 * `content_filter`; anything else Gemini may add later reads as `stop`.
 */
export function finishReasonOf(reason: string | undefined, calledFunction: boolean): string | null {
  if (reason === undefined || reason === "FINISH_REASON_UNSPECIFIED") return null;
  if (reason === "MAX_TOKENS") return "length";
  if (CONTENT_FILTER_REASONS.has(reason)) return "content_filter";
  return calledFunction ? "tool_calls" : "stop";
}

const CONTENT_FILTER_REASONS: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "LANGUAGE",
]);

/**
 * OpenAI usage of Gemini's `usageMetadata`. Thinking tokens are billed as output, so they
 * count as completion tokens; `cachedContentTokenCount` (a part of the prompt) becomes
 * `prompt_tokens_details.cached_tokens`.
 */
export function usageOf(metadata: GeminiUsageMetadata | undefined): ChatUsage {
  const promptTokens = metadata?.promptTokenCount ?? 0;
  const completionTokens = (metadata?.candidatesTokenCount ?? 0) + (metadata?.thoughtsTokenCount ?? 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: metadata?.cachedContentTokenCount ?? 0 },
  };
}

interface CandidatePieces {
  text: string;
  toolCalls: ChatToolCall[];
}

/** The answer text (thought summaries left out) and the function calls of one candidate. */
function piecesOf(candidate: GeminiCandidate, context: ResponseContext): CandidatePieces {
  let text = "";
  const toolCalls: ChatToolCall[] = [];
  for (const part of candidate.content?.parts ?? []) {
    if (part.functionCall !== undefined) {
      toolCalls.push({
        id: part.functionCall.id ?? context.newToolCallId(),
        type: "function",
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    } else if (typeof part.text === "string" && part.thought !== true) {
      text += part.text;
    }
  }
  return { text, toolCalls };
}

/**
 * The `chat.completion` of a whole `generateContent` answer. A prompt blocked before any
 * candidate was generated (`promptFeedback.blockReason`) becomes one empty choice finishing
 * with `content_filter`, as OpenAI reports a filtered answer.
 */
export function toChatCompletion(response: GeminiResponse, context: ResponseContext): ChatCompletion {
  const candidates = response.candidates ?? [];
  const choices: ChatChoice[] = candidates.map((candidate, position) => {
    const pieces = piecesOf(candidate, context);
    const message: ChatChoice["message"] = {
      role: "assistant",
      content: pieces.text.length > 0 || pieces.toolCalls.length === 0 ? pieces.text : null,
    };
    if (pieces.toolCalls.length > 0) message.tool_calls = pieces.toolCalls;
    return {
      index: candidate.index ?? position,
      message,
      finish_reason: finishReasonOf(candidate.finishReason, pieces.toolCalls.length > 0) ?? "stop",
    };
  });
  if (choices.length === 0) {
    choices.push({
      index: 0,
      message: { role: "assistant", content: null },
      finish_reason: "content_filter",
    });
  }
  return {
    id: response.responseId ?? context.fallbackId,
    object: "chat.completion",
    created: context.created,
    model: response.modelVersion ?? context.upstreamModel,
    choices,
    usage: usageOf(response.usageMetadata),
  };
}

/** Turns the `GenerateContentResponse`s of one stream into OpenAI chunks, in order. */
export interface StreamTranslator {
  /** The chunk of one streamed response, or undefined when it carries nothing to forward. */
  translate(response: GeminiResponse): ChatCompletionChunk | undefined;
  /** Whether a response carried a finish reason (or a prompt block): the answer is whole. */
  readonly finished: boolean;
  /** Usage of the latest response that reported it (Gemini's counts are cumulative). */
  readonly usage: ChatUsage | undefined;
  /** The closing chunk OpenAI sends with `include_usage`: no choices, the final usage. */
  usageChunk(): ChatCompletionChunk;
}

interface CandidateState {
  roleSent: boolean;
  toolCallCount: number;
}

export function createStreamTranslator(context: ResponseContext): StreamTranslator {
  let id: string | undefined;
  let model: string | undefined;
  let finished = false;
  let usage: ChatUsage | undefined;
  const states = new Map<number, CandidateState>();

  const chunkOf = (choices: ChatChunkChoice[], chunkUsage?: ChatUsage): ChatCompletionChunk => {
    const chunk: ChatCompletionChunk = {
      id: id ?? context.fallbackId,
      object: "chat.completion.chunk",
      created: context.created,
      model: model ?? context.upstreamModel,
      choices,
    };
    if (chunkUsage !== undefined) chunk.usage = chunkUsage;
    return chunk;
  };

  return {
    translate(response) {
      id ??= response.responseId;
      model ??= response.modelVersion;
      if (response.usageMetadata !== undefined) usage = usageOf(response.usageMetadata);
      const choices: ChatChunkChoice[] = [];
      const candidates = response.candidates ?? [];
      candidates.forEach((candidate, position) => {
        const index = candidate.index ?? position;
        let state = states.get(index);
        if (state === undefined) {
          state = { roleSent: false, toolCallCount: 0 };
          states.set(index, state);
        }
        const pieces = piecesOf(candidate, context);
        const delta: ChatChunkChoice["delta"] = {};
        if (!state.roleSent) {
          delta.role = "assistant";
          state.roleSent = true;
        }
        if (pieces.text.length > 0) delta.content = pieces.text;
        if (pieces.toolCalls.length > 0) {
          delta.tool_calls = pieces.toolCalls.map((call) => ({
            index: state.toolCallCount++,
            id: call.id,
            type: "function",
            function: { name: call.function.name, arguments: call.function.arguments },
          }));
        }
        const finishReason = finishReasonOf(candidate.finishReason, state.toolCallCount > 0);
        if (finishReason !== null) finished = true;
        choices.push({ index, delta, finish_reason: finishReason });
      });
      if (candidates.length === 0 && response.promptFeedback?.blockReason !== undefined) {
        finished = true;
        choices.push({ index: 0, delta: { role: "assistant" }, finish_reason: "content_filter" });
      }
      return choices.length > 0 ? chunkOf(choices) : undefined;
    },
    get finished() {
      return finished;
    },
    get usage() {
      return usage;
    },
    usageChunk() {
      return chunkOf([], usage ?? usageOf(undefined));
    },
  };
}
