import type { ChatMessage, ChatRequest } from "../../chat/index.js";
import { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";
import type { GeminiContent, GeminiGenerationConfig, GeminiPart, GeminiRequest } from "./wire.js";

/**
 * Translates Beamline's canonical (OpenAI-shaped) chat request into a Gemini
 * `generateContent` body. Pure. A request Gemini cannot express (a tool result whose call is
 * unknown, an image by remote URL, tool-call arguments that are not JSON) is rejected with a
 * `bad_request` ProviderError, which is not retried: another try cannot fix the request.
 *
 * - system and developer messages → `systemInstruction` (in order, wherever they appear);
 * - user → role `user`, assistant → role `model`, its `tool_calls` → `functionCall` parts;
 * - tool messages → `functionResponse` parts of a `user` turn, named after the call they answer;
 * - consecutive turns of one role are merged (parallel tool results become one turn);
 * - `tools` → `functionDeclarations` (JSON Schema as `parametersJsonSchema`), `tool_choice` →
 *   `toolConfig.functionCallingConfig`;
 * - `max_completion_tokens`/`max_tokens`, `temperature`, `top_p`, `stop`, `seed`, penalties →
 *   `generationConfig`; `response_format` json_object / json_schema → `responseMimeType`
 *   `application/json` (and `responseJsonSchema`).
 */
export function toGeminiRequest(request: ChatRequest): GeminiRequest {
  const system: Array<{ text: string }> = [];
  const contents: GeminiContent[] = [];
  const toolNamesById = new Map<string, string>();

  const append = (role: GeminiContent["role"], parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  request.messages.forEach((message, index) => {
    switch (message.role) {
      case "system":
      case "developer": {
        const text = textOf(message, index);
        if (text.length > 0) system.push({ text });
        return;
      }
      case "user":
        append("user", userParts(message, index));
        return;
      case "assistant": {
        const parts: GeminiPart[] = [];
        const text = textOf(message, index);
        if (text.length > 0) parts.push({ text });
        for (const call of message.tool_calls ?? []) {
          toolNamesById.set(call.id, call.function.name);
          parts.push({
            functionCall: { name: call.function.name, args: parseArguments(call.function.arguments, index) },
          });
        }
        append("model", parts);
        return;
      }
      case "tool": {
        const callId = message.tool_call_id;
        const name = (callId === undefined ? undefined : toolNamesById.get(callId)) ?? message.name;
        if (name === undefined) {
          throw badRequest(
            `messages.${index}: a tool result must answer a tool call of an earlier assistant message (unknown tool_call_id)`,
          );
        }
        append("user", [{ functionResponse: { name, response: toolResponse(textOf(message, index)) } }]);
        return;
      }
    }
  });

  if (contents.length === 0) {
    throw badRequest("Gemini needs at least one user or assistant message besides the system prompt");
  }
  const body: GeminiRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const declarations = functionDeclarations(request.tools);
  if (declarations.length > 0) body.tools = [{ functionDeclarations: declarations }];
  const toolConfig = functionCallingConfig(request.tool_choice);
  if (toolConfig !== undefined) body.toolConfig = { functionCallingConfig: toolConfig };
  const generationConfig = generationConfigOf(request);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return body;
}

function badRequest(message: string): ProviderError {
  return new ProviderError(ProviderErrorClass.BadRequest, `gemini cannot express the request: ${message}`);
}

/** Text of a message's content: the string, or its text parts joined. */
function textOf(message: ChatMessage, index: number): string {
  const content = message.content;
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content
    .map((part) => {
      if (part.type === "text" && typeof part["text"] === "string") return part["text"];
      throw badRequest(`messages.${index}: a ${message.role} message may hold text parts only`);
    })
    .join("");
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function userParts(message: ChatMessage, index: number): GeminiPart[] {
  const content = message.content;
  if (content === undefined || content === null) return [];
  if (typeof content === "string") return content.length > 0 ? [{ text: content }] : [];
  return content.map((part): GeminiPart => {
    if (part.type === "text" && typeof part["text"] === "string") return { text: part["text"] };
    if (part.type === "image_url") {
      const url = (part["image_url"] as { url?: unknown } | undefined)?.url;
      const match = typeof url === "string" ? DATA_URL.exec(url) : null;
      if (match !== null) return { inlineData: { mimeType: match[1]!, data: match[2]! } };
      throw badRequest(`messages.${index}: Gemini takes images inline only (a base64 data: URL)`);
    }
    throw badRequest(`messages.${index}: content parts of type "${part.type}" are not supported`);
  });
}

function parseArguments(text: string, index: number): Record<string, unknown> {
  if (text.trim().length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`messages.${index}: tool_calls arguments must be a JSON object`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`messages.${index}: tool_calls arguments must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Gemini wants an object as a function's response; a JSON object result is passed as is. */
function toolResponse(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // Plain text: wrapped below.
  }
  return { content: text };
}

type Declaration = NonNullable<GeminiRequest["tools"]>[number]["functionDeclarations"][number];

function functionDeclarations(tools: ChatRequest["tools"]): Declaration[] {
  const declarations: Declaration[] = [];
  for (const tool of tools ?? []) {
    if (tool.type !== "function") {
      throw badRequest(`tools of type "${tool.type}" are not supported; only function tools are`);
    }
    const fn = tool["function"] as
      | { name?: unknown; description?: unknown; parameters?: unknown }
      | undefined;
    if (typeof fn?.name !== "string" || fn.name.length === 0)
      throw badRequest("every function tool needs a name");
    const declaration: Declaration = { name: fn.name };
    if (typeof fn.description === "string") declaration.description = fn.description;
    if (fn.parameters !== undefined) declaration.parametersJsonSchema = fn.parameters;
    declarations.push(declaration);
  }
  return declarations;
}

function functionCallingConfig(
  choice: unknown,
): NonNullable<GeminiRequest["toolConfig"]>["functionCallingConfig"] | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === "none") return { mode: "NONE" };
  if (choice === "auto") return { mode: "AUTO" };
  if (choice === "required") return { mode: "ANY" };
  const name = (choice as { function?: { name?: unknown } }).function?.name;
  if (typeof name === "string" && name.length > 0) return { mode: "ANY", allowedFunctionNames: [name] };
  throw badRequest("tool_choice must be none, auto, required or a named function");
}

function generationConfigOf(request: ChatRequest): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {};
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) config.maxOutputTokens = maxTokens;
  if (request.temperature != null) config.temperature = request.temperature;
  if (request.top_p != null) config.topP = request.top_p;
  if (request.stop != null)
    config.stopSequences = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (request.n != null) config.candidateCount = request.n;
  const seed = request["seed"];
  if (typeof seed === "number" && Number.isInteger(seed)) config.seed = seed;
  const presence = request["presence_penalty"];
  if (typeof presence === "number") config.presencePenalty = presence;
  const frequency = request["frequency_penalty"];
  if (typeof frequency === "number") config.frequencyPenalty = frequency;
  const format = request.response_format;
  if (format?.type === "json_object") config.responseMimeType = "application/json";
  if (format?.type === "json_schema") {
    config.responseMimeType = "application/json";
    const schema = (format["json_schema"] as { schema?: unknown } | undefined)?.schema;
    if (schema !== undefined) config.responseJsonSchema = schema;
  }
  return config;
}
