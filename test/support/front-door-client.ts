import { createSseParser, type SseEvent } from "../../src/providers/index.js";

/** Beamline's two HTTP front doors. */
export type FrontDoor = "openai" | "anthropic";

/**
 * What a client saw from one call of a front door, read over raw HTTP so that the exact end
 * of a stream (a clean `[DONE]` / `message_stop`, or an error event) can be asserted.
 */
export interface FrontDoorAnswer {
  status: number;
  /** Beamline's request id, from `x-request-id` (OpenAI door) or `request-id` (Anthropic door). */
  requestId: string | undefined;
  /** Whether the answer was an event stream (else a JSON body). */
  eventStream: boolean;
  /** The answer's text: the message content, or the streamed text deltas joined. */
  text: string;
  /** Streamed text deltas (events) that arrived before the end. */
  textEvents: number;
  /** The stream ended the way a successful one does: `data: [DONE]` or `message_stop`. */
  cleanEnd: boolean;
  /** The error body's code and type, from a JSON error answer or an error event. */
  error?: { code: string; type: string };
  /** Usage as the front door reported it, in canonical terms. */
  usage?: { promptTokens: number; completionTokens: number; cachedTokens: number };
}

const PROMPT = "Tell the fault matrix something";

/**
 * Calls `POST /v1/chat/completions` or `POST /v1/messages` with one user message and reads the
 * whole answer. Streaming calls on the OpenAI door ask for the usage chunk.
 */
export async function callFrontDoor(options: {
  baseUrl: string;
  key: string;
  door: FrontDoor;
  model: string;
  stream: boolean;
  prompt?: string;
}): Promise<FrontDoorAnswer> {
  const { baseUrl, key, door, model, stream } = options;
  const messages = [{ role: "user", content: options.prompt ?? PROMPT }];
  const response =
    door === "openai"
      ? await fetch(`${baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model,
            messages,
            stream,
            ...(stream ? { stream_options: { include_usage: true } } : {}),
          }),
        })
      : await fetch(`${baseUrl}/v1/messages`, {
          method: "POST",
          headers: {
            "x-api-key": key,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
          },
          body: JSON.stringify({ model, max_tokens: 256, messages, stream }),
        });
  const eventStream = (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const answer: FrontDoorAnswer = {
    status: response.status,
    requestId: response.headers.get("x-request-id") ?? response.headers.get("request-id") ?? undefined,
    eventStream,
    text: "",
    textEvents: 0,
    cleanEnd: false,
  };
  if (!eventStream) {
    const body = (await response.json()) as Record<string, unknown>;
    if (response.status !== 200) {
      answer.error = errorOf(body);
      return answer;
    }
    if (door === "openai") readOpenAiBody(body, answer);
    else readAnthropicBody(body, answer);
    return answer;
  }
  const parser = createSseParser();
  const events: SseEvent[] = [];
  for await (const piece of response.body as AsyncIterable<Uint8Array>) events.push(...parser.push(piece));
  events.push(...parser.end());
  for (const event of events) {
    if (door === "openai") readOpenAiEvent(event, answer);
    else readAnthropicEvent(event, answer);
  }
  return answer;
}

function errorOf(body: Record<string, unknown>): { code: string; type: string } | undefined {
  const error = body["error"] as { code?: unknown; type?: unknown } | undefined;
  if (!error) return undefined;
  return { code: String(error.code), type: String(error.type) };
}

function readOpenAiBody(body: Record<string, unknown>, answer: FrontDoorAnswer): void {
  const choices = body["choices"] as Array<{ message: { content: string | null } }>;
  answer.text = choices[0]?.message.content ?? "";
  const usage = body["usage"] as OpenAiUsage | undefined;
  if (usage) answer.usage = fromOpenAiUsage(usage);
}

function readAnthropicBody(body: Record<string, unknown>, answer: FrontDoorAnswer): void {
  const content = body["content"] as Array<{ type: string; text?: string }>;
  answer.text = content.map((block) => (block.type === "text" ? (block.text ?? "") : "")).join("");
  const usage = body["usage"] as AnthropicUsage | undefined;
  if (usage) answer.usage = fromAnthropicUsage(usage);
}

function readOpenAiEvent(event: SseEvent, answer: FrontDoorAnswer): void {
  if (event.data === "[DONE]") {
    answer.cleanEnd = true;
    return;
  }
  const value = JSON.parse(event.data) as Record<string, unknown>;
  if (value["error"]) {
    answer.error = errorOf(value);
    return;
  }
  const choices = value["choices"] as Array<{ delta: { content?: string | null } }>;
  const piece = choices[0]?.delta.content;
  if (piece) {
    answer.text += piece;
    answer.textEvents++;
  }
  const usage = value["usage"] as OpenAiUsage | null | undefined;
  if (usage) answer.usage = fromOpenAiUsage(usage);
}

function readAnthropicEvent(event: SseEvent, answer: FrontDoorAnswer): void {
  const value = JSON.parse(event.data) as Record<string, unknown>;
  switch (event.event) {
    case "content_block_delta": {
      const delta = value["delta"] as { type: string; text?: string };
      if (delta.type === "text_delta") {
        answer.text += delta.text ?? "";
        answer.textEvents++;
      }
      return;
    }
    case "message_delta":
      answer.usage = fromAnthropicUsage(value["usage"] as AnthropicUsage);
      return;
    case "message_stop":
      answer.cleanEnd = true;
      return;
    case "error":
      answer.error = errorOf(value);
      return;
  }
}

interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number | null;
}

function fromOpenAiUsage(usage: OpenAiUsage) {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

/** The Anthropic door reports prompt tokens without the cached ones, as Anthropic does. */
function fromAnthropicUsage(usage: AnthropicUsage) {
  const cached = usage.cache_read_input_tokens ?? 0;
  return {
    promptTokens: usage.input_tokens + cached,
    completionTokens: usage.output_tokens,
    cachedTokens: cached,
  };
}
