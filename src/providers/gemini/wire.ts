import { z } from "zod";
import { describeIssues, type ParseOutcome } from "../validation.js";

/**
 * The parts of Gemini's `generateContent` wire format Beamline writes and reads. Responses are
 * checked with loose zod objects: fields Beamline does not read (safety ratings, citations,
 * grounding) pass through untouched.
 */

/** A function call the model asks for. `id` is sent by newer API versions only. */
export interface GeminiFunctionCall {
  id?: string;
  name: string;
  args?: Record<string, unknown>;
}

/** One part of a content: text, a function call, a function result, or inline data. */
export interface GeminiPart {
  text?: string;
  /** Marks a thought summary: reasoning the model shares, not part of the answer. */
  thought?: boolean;
  functionCall?: GeminiFunctionCall;
  functionResponse?: { id?: string; name: string; response: Record<string, unknown> };
  inlineData?: { mimeType: string; data: string };
}

/** A turn of the conversation: Gemini knows only the roles `user` and `model`. */
export interface GeminiContent {
  role: "user" | "model";
  parts: GeminiPart[];
}

export interface GeminiGenerationConfig {
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
  candidateCount?: number;
  responseMimeType?: string;
  responseJsonSchema?: unknown;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
}

/** The body of `models/{model}:generateContent` and `:streamGenerateContent`. */
export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{
    functionDeclarations: Array<{ name: string; description?: string; parametersJsonSchema?: unknown }>;
  }>;
  toolConfig?: {
    functionCallingConfig: { mode: "AUTO" | "ANY" | "NONE"; allowedFunctionNames?: string[] };
  };
  generationConfig?: GeminiGenerationConfig;
}

const count = z.number().int().nonnegative();

const usageMetadataSchema = z.looseObject({
  promptTokenCount: count.optional(),
  candidatesTokenCount: count.optional(),
  /** Tokens the model spent thinking; billed as output. */
  thoughtsTokenCount: count.optional(),
  cachedContentTokenCount: count.optional(),
  totalTokenCount: count.optional(),
});
export type GeminiUsageMetadata = z.infer<typeof usageMetadataSchema>;

const partSchema = z.looseObject({
  text: z.string().optional(),
  thought: z.boolean().optional(),
  functionCall: z
    .looseObject({
      id: z.string().optional(),
      name: z.string().min(1),
      args: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

const candidateSchema = z.looseObject({
  index: z.number().int().nonnegative().optional(),
  // A candidate stopped by a safety filter may come without content.
  content: z.looseObject({ role: z.string().optional(), parts: z.array(partSchema).optional() }).optional(),
  finishReason: z.string().optional(),
});

/** One `GenerateContentResponse`: the whole answer, or one streamed piece of it. */
export const generateContentResponseSchema = z.looseObject({
  candidates: z.array(candidateSchema).optional(),
  promptFeedback: z.looseObject({ blockReason: z.string().optional() }).optional(),
  usageMetadata: usageMetadataSchema.optional(),
  modelVersion: z.string().optional(),
  responseId: z.string().optional(),
});
export type GeminiResponse = z.infer<typeof generateContentResponseSchema>;
export type GeminiCandidate = z.infer<typeof candidateSchema>;

/** Checks a parsed response body or SSE event. Problems name paths, never values. */
export function parseGeminiResponse(value: unknown): ParseOutcome<GeminiResponse> {
  const result = generateContentResponseSchema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problem: describeIssues(result.error) };
}
