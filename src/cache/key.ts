import { createHash } from "node:crypto";
import type { ChatRequest } from "../chat/index.js";
import { canonicalJson } from "./canonical.js";
import type { CachePolicy } from "./policy.js";

/**
 * Request fields that cannot change the answer's content, left out of the key: who asked
 * (`user`, `metadata`), how the answer travels (`stream`, `stream_options`), and request
 * bookkeeping. `model` is replaced by the model the request resolved to.
 */
export const FIELDS_OUTSIDE_THE_KEY = [
  "model",
  "user",
  "metadata",
  "stream",
  "stream_options",
  "store",
  "service_tier",
  "idempotency_key",
] as const;

export interface CacheKeyInput {
  tenant: string;
  /** The API key or producer that sent the request; part of the key when the scope is `key`. */
  caller: string | undefined;
  scope: CachePolicy["scope"];
  /** The request as routed: after the tenant's `pre` extensions. */
  request: ChatRequest;
  /** The catalog model id the request resolved to (the decision's first candidate). */
  model: string;
}

/**
 * The cache key: SHA-256 (hex) over the canonical JSON of the tenant, the caller when scoped
 * by key, the resolved model and the request without the fields that cannot change the answer.
 * Pure: the same request gives the same key in every process and in a replay.
 */
export function cacheKey(input: CacheKeyInput): string {
  const request: Record<string, unknown> = { ...input.request };
  for (const field of FIELDS_OUTSIDE_THE_KEY) delete request[field];
  const material = {
    v: 1,
    tenant: input.tenant,
    caller: input.scope === "key" ? (input.caller ?? "") : null,
    model: input.model,
    request,
  };
  return createHash("sha256").update(canonicalJson(material)).digest("hex");
}

/**
 * Whether a request's answer is the same each time, as far as the caller asked: temperature 0.
 * An unset temperature counts as sampling, since OpenAI, Anthropic and Gemini all default above 0.
 */
export function isDeterministic(request: ChatRequest): boolean {
  return request.temperature === 0;
}
