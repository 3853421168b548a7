import {
  type EmbeddingsRequest,
  type EmbeddingsResult,
  embeddingInputs,
  embeddingsResultSchema,
} from "../../chat/index.js";
import { describeIssues, type ParseOutcome } from "../validation.js";

/**
 * OpenAI's `POST /embeddings` as a provider wire (OpenAI and every compatible server): the
 * canonical request goes out with the upstream model name and always asks for floats, which is
 * what events store; the gateway encodes base64 for clients that asked for it.
 */
export function embeddingsRequestBody(request: EmbeddingsRequest, upstreamModel: string): string {
  return JSON.stringify({ ...request, model: upstreamModel, encoding_format: "float" });
}

/**
 * Checks an embeddings answer against the request: one float vector per input, each index
 * once. Returned in input order (compatible servers do not all sort `data`).
 */
export function parseEmbeddingsAnswer(
  value: unknown,
  request: EmbeddingsRequest,
): ParseOutcome<EmbeddingsResult> {
  const result = embeddingsResultSchema.safeParse(value);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  const expected = embeddingInputs(request).length;
  const data = [...result.data.data].sort((a, b) => a.index - b.index);
  if (data.length !== expected || data.some((item, i) => item.index !== i)) {
    return {
      ok: false,
      problem: `holds ${data.length} vector(s) indexed ${data.map((d) => d.index).join(",")} for ${expected} input(s)`,
    };
  }
  return { ok: true, value: { ...result.data, data } };
}
