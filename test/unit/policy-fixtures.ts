import { type CatalogDocumentInput, parseCatalog } from "../../src/catalog/index.js";
import type { ChatRequest } from "../../src/chat/wire.js";
import {
  EMPTY_HEALTH,
  NO_QUOTA,
  type PolicyDocumentInput,
  type PolicyInputs,
  policyDocumentSchema,
  type VersionedPolicy,
} from "../../src/routing/policy/index.js";

/** Four models that differ on every axis the engine looks at. */
export const catalogDocument: CatalogDocumentInput = {
  version: "test-1",
  models: [
    {
      id: "cheap-small",
      provider: "alpha",
      upstreamModel: "cheap-small-up",
      aliases: ["fast"],
      prices: { inputPerMTokUsd: 0.1, outputPerMTokUsd: 0.4 },
      contextWindow: 8000,
      maxOutputTokens: 2000,
      capabilities: { tools: false, vision: false, jsonMode: true, streaming: true },
      qualityScore: 0.3,
      residency: ["us"],
    },
    {
      id: "mid-eu",
      provider: "beta",
      upstreamModel: "mid-eu-up",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
      contextWindow: 64000,
      capabilities: { tools: true, vision: false, jsonMode: true, streaming: true },
      qualityScore: 0.6,
      residency: ["eu"],
    },
    {
      id: "big-vision",
      provider: "alpha",
      upstreamModel: "big-vision-up",
      aliases: ["smart"],
      prices: { inputPerMTokUsd: 5, outputPerMTokUsd: 15 },
      contextWindow: 200000,
      capabilities: { tools: true, vision: true, jsonMode: true, streaming: true },
      qualityScore: 0.9,
      residency: ["us", "eu"],
    },
    {
      id: "no-stream",
      provider: "gamma",
      upstreamModel: "no-stream-up",
      prices: { inputPerMTokUsd: 0.5, outputPerMTokUsd: 1 },
      capabilities: { tools: true, vision: false, jsonMode: false, streaming: false },
      residency: [],
    },
  ],
};

export const catalog = parseCatalog(catalogDocument);

export function policy(document: PolicyDocumentInput, version = 1): VersionedPolicy {
  return { tenant: "acme", version, document: policyDocumentSchema.parse(document) };
}

export function chat(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return { model: "auto", messages: [{ role: "user", content: "Hello there" }], ...overrides };
}

export function inputs(overrides: Partial<PolicyInputs> = {}): PolicyInputs {
  return {
    request: chat(),
    policy: policy({}),
    catalog,
    health: EMPTY_HEALTH,
    quota: NO_QUOTA,
    seed: "req_1",
    ...overrides,
  };
}
