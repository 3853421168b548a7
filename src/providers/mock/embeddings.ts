import { createHash } from "node:crypto";
import { countTextTokens, tokenizerFor } from "../../tokens/index.js";

/**
 * The mock's embedding model: deterministic vectors derived from the input alone, so equal
 * inputs embed equal (and different inputs, almost surely, differently) on every wire and in
 * every run, and tests can assert both. Not semantic: a hash, stretched and normalised.
 */

/** Vector length when the request asks for none (`dimensions` / `outputDimensionality`). */
export const MOCK_EMBEDDING_DIMENSIONS = 256;

/** Most dimensions the mock answers, like real models' limits (and a bound on its work). */
export const MOCK_EMBEDDING_MAX_DIMENSIONS = 4_096;

/**
 * The mock vector of one input: SHA-256 of the input and a block counter, read as 32-bit words
 * mapped to [-1, 1], normalised to unit length (as OpenAI's embeddings are).
 */
export function mockEmbedding(
  input: string | readonly number[],
  dimensions = MOCK_EMBEDDING_DIMENSIONS,
): number[] {
  const text = typeof input === "string" ? `text:${input}` : `tokens:${input.join(",")}`;
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash("sha256").update(`${block}\n${text}`).digest();
    for (let offset = 0; offset < digest.length && values.length < dimensions; offset += 4) {
      values.push(digest.readUInt32LE(offset) / 0x7fff_ffff - 1);
    }
  }
  const norm = Math.hypot(...values) || 1;
  // Rounded to float32, which is what base64 answers carry: float and base64 clients agree.
  return values.map((value) => Math.fround(value / norm));
}

/** Input tokens of the mock's embedding model, counted as the mock counts chat prompts. */
export function mockEmbeddingTokens(
  model: string,
  inputs: ReadonlyArray<string | readonly number[]>,
): number {
  const kind = tokenizerFor({ provider: "mock", upstreamModel: model });
  return inputs.reduce<number>(
    (sum, input) => sum + (typeof input === "string" ? countTextTokens(kind, input) : input.length),
    0,
  );
}

/** Checks OpenAI's `input`; the inputs as a list, or a message naming the problem. */
export function openAiInputs(input: unknown): Array<string | number[]> | string {
  const isTokens = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v) && v >= 0);
  if (typeof input === "string" && input !== "") return [input];
  if (isTokens(input)) return [input];
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === "string" && item !== "")) return input as string[];
    if (input.every(isTokens)) return input as number[][];
  }
  return "'input' must be a non-empty string, array of strings, array of tokens or array of token arrays.";
}

/** The `POST /v1/embeddings` answer of the mock for a checked request. */
export function openAiEmbeddingsBody(
  model: string,
  inputs: ReadonlyArray<string | number[]>,
  dimensions: number,
  encoding: "float" | "base64",
): string {
  const tokens = mockEmbeddingTokens(model, inputs);
  return JSON.stringify({
    object: "list",
    data: inputs.map((input, index) => {
      const vector = mockEmbedding(input, dimensions);
      return {
        object: "embedding",
        index,
        embedding:
          encoding === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector,
      };
    }),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
