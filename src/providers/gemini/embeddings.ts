import { z } from "zod";
import { type EmbeddingsRequest, type EmbeddingsResult, embeddingInputs } from "../../chat/index.js";
import { countTextTokens, tokenizerFor } from "../../tokens/index.js";
import { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";
import { describeIssues, type ParseOutcome } from "../validation.js";

/**
 * Gemini's embeddings wire (`models/{model}:batchEmbedContents`), translated from and to the
 * canonical OpenAI shape. One `EmbedContentRequest` per input, in input order; Gemini answers
 * `{ embeddings: [{ values }] }` in the same order and reports no token usage, so the input
 * tokens are counted here with the shared counter (src/tokens), as billing needs a number.
 */

/** The body of `:batchEmbedContents`. */
export interface GeminiBatchEmbedRequest {
  requests: Array<{
    model: string;
    content: { parts: Array<{ text: string }> };
    outputDimensionality?: number;
  }>;
}

/** `models/<name>`, unless the catalog names a full resource (`tunedModels/…`). */
function resourceName(upstreamModel: string): string {
  return upstreamModel.includes("/") ? upstreamModel : `models/${upstreamModel}`;
}

/**
 * The batch request for `request`. Gemini embeds text only: token-array inputs fail as
 * `bad_request` before any I/O (the client's request, not the provider, is at fault).
 */
export function toGeminiBatchEmbed(
  request: EmbeddingsRequest,
  upstreamModel: string,
): GeminiBatchEmbedRequest {
  const model = resourceName(upstreamModel);
  return {
    requests: embeddingInputs(request).map((input) => {
      if (typeof input !== "string") {
        throw new ProviderError(
          ProviderErrorClass.BadRequest,
          "Gemini embeds text only; this request's input holds token arrays",
        );
      }
      return {
        model,
        content: { parts: [{ text: input }] },
        ...(request.dimensions === undefined ? {} : { outputDimensionality: request.dimensions }),
      };
    }),
  };
}

const batchEmbedResponseSchema = z.looseObject({
  embeddings: z.array(z.looseObject({ values: z.array(z.number()) })),
});

/** Checks Gemini's answer (one vector per input) and translates it to OpenAI's shape. */
export function fromGeminiBatchEmbed(
  value: unknown,
  request: EmbeddingsRequest,
  target: { provider: string; upstreamModel: string },
): ParseOutcome<EmbeddingsResult> {
  const parsed = batchEmbedResponseSchema.safeParse(value);
  if (!parsed.success) return { ok: false, problem: describeIssues(parsed.error) };
  const inputs = embeddingInputs(request);
  if (parsed.data.embeddings.length !== inputs.length) {
    return {
      ok: false,
      problem: `holds ${parsed.data.embeddings.length} embedding(s) for ${inputs.length} input(s)`,
    };
  }
  const kind = tokenizerFor(target);
  const promptTokens = inputs.reduce<number>(
    (sum, input) => sum + (typeof input === "string" ? countTextTokens(kind, input) : input.length),
    0,
  );
  return {
    ok: true,
    value: {
      object: "list",
      data: parsed.data.embeddings.map((embedding, index) => ({
        object: "embedding",
        index,
        embedding: embedding.values,
      })),
      model: target.upstreamModel,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    },
  };
}
