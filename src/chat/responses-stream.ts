import type {
  ResponsesFunctionCall,
  ResponsesOutputMessage,
  ResponsesOutputText,
  ResponsesResponse,
  ResponsesStreamEvent,
} from "./responses.js";
import { functionCallItemIdOf, messageItemIdOf } from "./responses-ids.js";
import type { ChatCompletionChunk } from "./wire.js";

/**
 * Canonical `chat.completion.chunk`s → the Responses API's typed stream events. Pure and
 * stateful: one translator per response. Every event carries `sequence_number`, counting from 0.
 *
 * The first chunk opens the response (`response.created`, `response.in_progress`). Text opens
 * the assistant message item (`response.output_item.added`, `response.content_part.added`) and
 * streams as `response.output_text.delta`; each tool call opens a `function_call` item whose
 * arguments stream as `response.function_call_arguments.delta`. An item is closed (its `.done`
 * events, then `response.output_item.done`) when the next one opens or the answer ends, so
 * items stream one after another as OpenAI sends them. `finish` ends with `response.completed`
 * (`response.incomplete` when the answer was cut by the token limit or a filter) carrying the
 * whole Response object; `fail` with `response.failed` and an `error` event.
 *
 * Text that arrives after a tool call (the message item is already closed) is not streamed
 * again: it is in the final Response object, which is built from the stored completion.
 */
export interface ChunkToResponsesTranslator {
  push(chunk: ChatCompletionChunk): ResponsesStreamEvent[];
  /** Whether `response.created` went out. */
  readonly started: boolean;
  /** The closing events; `final` is the Response object of the completed request. */
  finish(final: ResponsesResponse): ResponsesStreamEvent[];
  /** The events of a failure after the stream started. */
  fail(error: { code: string; message: string; param?: string | null }): ResponsesStreamEvent[];
}

type OpenItem =
  | { kind: "message"; outputIndex: number; text: string }
  | { kind: "call"; outputIndex: number; toolIndex: number; callId: string; name: string; args: string };

/**
 * `inProgress(model)` is the Response object before any output (the served model comes with
 * the first chunk).
 */
export function createChunkToResponsesTranslator(
  requestId: string,
  inProgress: (model: string) => ResponsesResponse,
): ChunkToResponsesTranslator {
  let sequence = 0;
  let response: ResponsesResponse | undefined;
  let outputCount = 0;
  let open: OpenItem | undefined;
  let messageDone = false;
  let finishReason: string | null = null;
  const seenTools = new Set<number>();

  function event(out: ResponsesStreamEvent[], type: string, fields: Record<string, unknown>): void {
    out.push({ type, sequence_number: sequence++, ...fields });
  }

  function outputText(text: string): ResponsesOutputText {
    return { type: "output_text", text, annotations: [], logprobs: [] };
  }

  function itemStatus(): "completed" | "incomplete" {
    return finishReason === "length" || finishReason === "content_filter" ? "incomplete" : "completed";
  }

  function close(out: ResponsesStreamEvent[]): void {
    const item = open;
    if (item === undefined) return;
    open = undefined;
    if (item.kind === "message") {
      messageDone = true;
      const itemId = messageItemIdOf(requestId);
      const at = { item_id: itemId, output_index: item.outputIndex, content_index: 0 };
      event(out, "response.output_text.done", { ...at, text: item.text, logprobs: [] });
      event(out, "response.content_part.done", { ...at, part: outputText(item.text) });
      const done: ResponsesOutputMessage = {
        type: "message",
        id: itemId,
        status: itemStatus(),
        role: "assistant",
        content: [outputText(item.text)],
      };
      event(out, "response.output_item.done", { output_index: item.outputIndex, item: done });
      return;
    }
    const itemId = functionCallItemIdOf(requestId, item.toolIndex);
    event(out, "response.function_call_arguments.done", {
      item_id: itemId,
      output_index: item.outputIndex,
      arguments: item.args,
      name: item.name,
    });
    const done: ResponsesFunctionCall = {
      type: "function_call",
      id: itemId,
      call_id: item.callId,
      name: item.name,
      arguments: item.args,
      status: "completed",
    };
    event(out, "response.output_item.done", { output_index: item.outputIndex, item: done });
  }

  function start(chunk: ChatCompletionChunk, out: ResponsesStreamEvent[]): void {
    if (response !== undefined) return;
    response = inProgress(chunk.model);
    event(out, "response.created", { response });
    event(out, "response.in_progress", { response });
  }

  return {
    push(chunk) {
      const out: ResponsesStreamEvent[] = [];
      start(chunk, out);
      // Beamline serves n = 1; only the first choice exists.
      const choice = chunk.choices.find((candidate) => candidate.index === 0);
      if (choice === undefined) return out;
      const delta = choice.delta ?? {};
      if (typeof delta.content === "string" && delta.content.length > 0 && !messageDone) {
        if (open?.kind !== "message") {
          close(out);
          open = { kind: "message", outputIndex: outputCount++, text: "" };
          const itemId = messageItemIdOf(requestId);
          const added: ResponsesOutputMessage = {
            type: "message",
            id: itemId,
            status: "in_progress",
            role: "assistant",
            content: [],
          };
          event(out, "response.output_item.added", { output_index: open.outputIndex, item: added });
          event(out, "response.content_part.added", {
            item_id: itemId,
            output_index: open.outputIndex,
            content_index: 0,
            part: outputText(""),
          });
        }
        open.text += delta.content;
        event(out, "response.output_text.delta", {
          item_id: messageItemIdOf(requestId),
          output_index: open.outputIndex,
          content_index: 0,
          delta: delta.content,
          logprobs: [],
        });
      }
      for (const toolDelta of delta.tool_calls ?? []) {
        if (!(open?.kind === "call" && open.toolIndex === toolDelta.index)) {
          if (seenTools.has(toolDelta.index)) continue; // a closed call's late fragment: in the final object
          seenTools.add(toolDelta.index);
          close(out);
          open = {
            kind: "call",
            outputIndex: outputCount++,
            toolIndex: toolDelta.index,
            callId: toolDelta.id ?? "",
            name: toolDelta.function?.name ?? "",
            args: "",
          };
          const added: ResponsesFunctionCall = {
            type: "function_call",
            id: functionCallItemIdOf(requestId, toolDelta.index),
            call_id: open.callId,
            name: open.name,
            arguments: "",
            status: "in_progress",
          };
          event(out, "response.output_item.added", { output_index: open.outputIndex, item: added });
        } else {
          // Some providers send the id or name in a later fragment than the first.
          if (toolDelta.id && !open.callId) open.callId = toolDelta.id;
          if (toolDelta.function?.name && !open.name) open.name = toolDelta.function.name;
        }
        const fragment = toolDelta.function?.arguments;
        if (fragment) {
          open.args += fragment;
          event(out, "response.function_call_arguments.delta", {
            item_id: functionCallItemIdOf(requestId, open.toolIndex),
            output_index: open.outputIndex,
            delta: fragment,
          });
        }
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
      return out;
    },
    get started() {
      return response !== undefined;
    },
    finish(final) {
      const out: ResponsesStreamEvent[] = [];
      close(out);
      event(out, final.status === "incomplete" ? "response.incomplete" : "response.completed", {
        response: final,
      });
      return out;
    },
    fail(error) {
      const out: ResponsesStreamEvent[] = [];
      const failed: ResponsesResponse = {
        ...(response ?? inProgress("")),
        status: "failed",
        error: { code: error.code, message: error.message },
      };
      event(out, "response.failed", { response: failed });
      event(out, "error", { code: error.code, message: error.message, param: error.param ?? null });
      return out;
    },
  };
}
