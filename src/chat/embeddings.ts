import { z } from "zod";
import type { ChatRequest } from "./wire.js";

/**
 * The embeddings wire shape: OpenAI's `POST /v1/embeddings` (the `openai` SDK's
 * `EmbeddingCreateParams` and `CreateEmbeddingResponse`). It is Beamline's canonical embeddings
 * format, as the chat-completions shape is for chat: the gateway validates against it, events
 * store it, and providers translate to and from it. Unknown request fields pass through.
 */

/** Most inputs one request may carry (OpenAI's own limit per request). */
export const MAX_EMBEDDING_INPUTS = 2_048;

const tokenArray = z.array(z.number().int().nonnegative()).min(1, "a token array must not be empty");

export const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1, "model is required").max(256),
  input: z.union([
    z.string().min(1, "input must not be empty"),
    z
      .array(z.string().min(1, "an input string must not be empty"))
      .min(1, "input must hold at least one string")
      .max(MAX_EMBEDDING_INPUTS),
    tokenArray,
    z.array(tokenArray).min(1, "input must hold at least one token array").max(MAX_EMBEDDING_INPUTS),
  ]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().max(256).optional(),
});

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

/** One input as a provider receives it: a text, or the tokens of one text. */
export type EmbeddingInput = string | number[];

const tokenCount = z.number().int().nonnegative();

/** One vector of an answer, always as floats (base64 is only how the gateway sends it). */
export const embeddingSchema = z.looseObject({
  object: z.literal("embedding"),
  index: z.number().int().nonnegative(),
  embedding: z.array(z.number()),
});

/** A complete embeddings answer, as OpenAI returns it with `encoding_format: "float"`. */
export const embeddingsResultSchema = z.looseObject({
  object: z.literal("list"),
  data: z.array(embeddingSchema),
  model: z.string(),
  usage: z.looseObject({ prompt_tokens: tokenCount, total_tokens: tokenCount }),
});

export type Embedding = z.infer<typeof embeddingSchema>;
export type EmbeddingsResult = z.infer<typeof embeddingsResultSchema>;

/**
 * The request's inputs as a list, in order: a single string or token array is a list of one.
 * (A flat number array is one token array, never a list of numbers.)
 */
export function embeddingInputs(request: Pick<EmbeddingsRequest, "input">): EmbeddingInput[] {
  const { input } = request;
  if (typeof input === "string") return [input];
  if (input.length > 0 && typeof input[0] === "number") return [input as number[]];
  return input as EmbeddingInput[];
}

/**
 * What the routing policy, quota estimate and request extensions see of an embeddings request:
 * a chat request with one user message per input, in input order. A token array is written as
 * its token ids separated by spaces, which counts more tokens than it holds (a safe estimate).
 * Built the same way from the same request every time, so a decision made over it replays.
 */
export function embeddingsRoutingView(request: EmbeddingsRequest): ChatRequest {
  const view: ChatRequest = {
    model: request.model,
    messages: embeddingInputs(request).map((input) => ({
      role: "user",
      content: typeof input === "string" ? input : input.join(" "),
    })),
  };
  if (request.user !== undefined) view.user = request.user;
  return view;
}

/**
 * The embeddings request after request extensions changed its routing view (masked text):
 * each text input takes its message's new text; token arrays stay as they were (extensions
 * read text). Message `i` of the view is input `i`.
 */
export function withRoutedInputs(request: EmbeddingsRequest, view: ChatRequest): EmbeddingsRequest {
  const inputs = embeddingInputs(request);
  const changed = inputs.map((input, index) => {
    const content = view.messages[index]?.content;
    return typeof input === "string" && typeof content === "string" ? content : input;
  });
  const single = typeof request.input === "string" || typeof request.input[0] === "number";
  return { ...request, input: (single ? changed[0] : changed) as EmbeddingsRequest["input"] };
}

/** A vector as OpenAI's `encoding_format: "base64"` sends it: little-endian float32, base64. */
export function embeddingToBase64(vector: readonly number[]): string {
  const floats = new Float32Array(vector);
  const bytes = new Uint8Array(floats.buffer);
  // Float32Array is platform-endian; every platform Node supports is little-endian.
  return Buffer.from(bytes).toString("base64");
}

/** The answer a client receives: floats, or base64 when it asked for `encoding_format: "base64"`. */
export function embeddingsAnswer(
  result: EmbeddingsResult,
  encoding: EmbeddingsRequest["encoding_format"],
): Omit<EmbeddingsResult, "data"> & {
  data: Array<Omit<Embedding, "embedding"> & { embedding: number[] | string }>;
} {
  if (encoding !== "base64") return result;
  return {
    ...result,
    data: result.data.map((item) => ({ ...item, embedding: embeddingToBase64(item.embedding) })),
  };
}
