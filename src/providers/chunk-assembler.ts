import {
  type ChatChoice,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatToolCall,
  type ChatUsage,
  THINKING_BLOCKS_FIELD,
  type ThinkingBlockDelta,
  thinkingDeltasOf,
} from "../chat/index.js";

/**
 * Folds streamed `chat.completion.chunk`s into the `chat.completion` a non-streamed call
 * would have returned: content and refusal fragments are concatenated per choice, tool-call
 * deltas are merged by their `index` (id and type replaced, name and arguments
 * concatenated), thinking fragments likewise into `thinking_blocks` (src/chat/thinking.ts), the last non-null `finish_reason` wins, and `usage` comes from the chunk
 * that carries it (with `stream_options.include_usage`, the last one, whose `choices` is empty).
 * Pure: feed it chunks in arrival order.
 */
export interface ChunkAssembler {
  add(chunk: ChatCompletionChunk): void;
  /** Number of chunks added so far. */
  readonly chunkCount: number;
  /** The usage reported by the stream, if a chunk carried one. */
  readonly usage: ChatUsage | undefined;
  /** The completion assembled from the chunks added so far. */
  completion(): ChatCompletion;
}

interface ToolCallDraft {
  id: string;
  type: "function";
  name: string;
  arguments: string;
}

interface ChoiceDraft {
  content: string[];
  refusal: string[];
  toolCalls: Map<number, ToolCallDraft>;
  /** Thinking blocks by their `index`: `thinking`, `signature` and `data` fragments add up. */
  thinking: Map<number, Record<string, string>>;
  finishReason: string | null;
}

/** Adds a thinking fragment to its block: the type is set once, text fields are concatenated. */
function addThinking(draft: ChoiceDraft, fragment: ThinkingBlockDelta): void {
  let block = draft.thinking.get(fragment.index);
  if (block === undefined) {
    block = {};
    draft.thinking.set(fragment.index, block);
  }
  if (fragment.type) block["type"] = fragment.type;
  for (const field of ["thinking", "signature", "data"] as const) {
    const piece = fragment[field];
    if (typeof piece === "string") block[field] = (block[field] ?? "") + piece;
  }
}

export function createChunkAssembler(): ChunkAssembler {
  let id = "";
  let created = 0;
  let model = "";
  let systemFingerprint: string | null | undefined;
  let usage: ChatUsage | undefined;
  let chunkCount = 0;
  const choices = new Map<number, ChoiceDraft>();

  function draftFor(index: number): ChoiceDraft {
    let draft = choices.get(index);
    if (draft === undefined) {
      draft = { content: [], refusal: [], toolCalls: new Map(), thinking: new Map(), finishReason: null };
      choices.set(index, draft);
    }
    return draft;
  }

  return {
    add(chunk) {
      chunkCount++;
      if (id === "" && chunk.id) id = chunk.id;
      if (created === 0 && chunk.created) created = chunk.created;
      if (model === "" && chunk.model) model = chunk.model;
      if (chunk.system_fingerprint !== undefined && chunk.system_fingerprint !== null) {
        systemFingerprint = chunk.system_fingerprint;
      }
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices ?? []) {
        const draft = draftFor(choice.index);
        const delta = choice.delta;
        if (delta) {
          if (typeof delta.content === "string" && delta.content.length > 0)
            draft.content.push(delta.content);
          if (typeof delta.refusal === "string" && delta.refusal.length > 0)
            draft.refusal.push(delta.refusal);
          for (const toolDelta of delta.tool_calls ?? []) {
            let call = draft.toolCalls.get(toolDelta.index);
            if (call === undefined) {
              call = { id: "", type: "function", name: "", arguments: "" };
              draft.toolCalls.set(toolDelta.index, call);
            }
            if (toolDelta.id) call.id = toolDelta.id;
            if (toolDelta.type) call.type = toolDelta.type;
            if (toolDelta.function?.name) call.name += toolDelta.function.name;
            if (toolDelta.function?.arguments) call.arguments += toolDelta.function.arguments;
          }
          for (const fragment of thinkingDeltasOf(delta)) addThinking(draft, fragment);
        }
        if (choice.finish_reason) draft.finishReason = choice.finish_reason;
      }
    },
    get chunkCount() {
      return chunkCount;
    },
    get usage() {
      return usage;
    },
    completion() {
      const assembled: ChatChoice[] = [...choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, draft]) => {
          const message: ChatChoice["message"] = {
            role: "assistant",
            content: draft.content.length > 0 ? draft.content.join("") : null,
          };
          if (draft.toolCalls.size > 0) {
            message.tool_calls = [...draft.toolCalls.entries()]
              .sort(([a], [b]) => a - b)
              .map(
                ([, call]): ChatToolCall => ({
                  id: call.id,
                  type: call.type,
                  function: { name: call.name, arguments: call.arguments },
                }),
              );
          }
          if (draft.refusal.length > 0) message.refusal = draft.refusal.join("");
          if (draft.thinking.size > 0) {
            message[THINKING_BLOCKS_FIELD] = [...draft.thinking.entries()]
              .sort(([a], [b]) => a - b)
              .map(([, block]) => block);
          }
          return { index, message, finish_reason: draft.finishReason };
        });
      const completion: ChatCompletion = {
        id,
        object: "chat.completion",
        created,
        model,
        choices: assembled,
      };
      if (usage !== undefined) completion.usage = usage;
      if (systemFingerprint !== undefined) completion.system_fingerprint = systemFingerprint;
      return completion;
    },
  };
}
