import { z } from "zod";
import { cachePolicySchema } from "../../cache/index.js";
import { CapabilityNames } from "../../catalog/index.js";
import { BeamlineError } from "../../errors/index.js";
import { quotaLimitsSchema } from "../../quotas/index.js";
import { pipelineSchema } from "./pipeline-schema.js";

/**
 * A tenant's policy document: how its requests are routed, which extensions run on them and
 * which quota limits apply. Documents are data: validated here, versioned on publish
 * (`policy.updated`), projected into KV and read live by every worker.
 */

const modelId = z.string().min(1).max(256);
const usd = z.number().nonnegative();

const cheapestStrategy = z.object({
  type: z.literal("cheapest"),
});

const fastestStrategy = z.object({
  type: z.literal("fastest"),
  /** Which latency figure of the health snapshot ranks models: the moving average or the 95th percentile. */
  latency: z.enum(["ewma", "p95"]).default("ewma"),
});

const qualityStrategy = z.object({
  type: z.literal("quality"),
  /** Models whose estimated cost for this request exceeds the cap are left out. */
  maxPricePerRequestUsd: usd.optional(),
});

const weightedStrategy = z.object({
  type: z.literal("weighted"),
  variants: z
    .array(z.object({ model: modelId, weight: z.number().positive() }))
    .min(1, "a weighted split needs at least one variant"),
  /**
   * What keeps a caller on one variant: `user` (the request's `user` field), `conversation`
   * (`metadata.conversation_id`). Without that key the request's seed decides, per request.
   */
  stickyBy: z.enum(["user", "conversation"]).default("user"),
  /** Changing the salt reshuffles every sticky assignment (a new experiment). */
  salt: z.string().max(64).default(""),
});

const priorityStrategy = z.object({
  type: z.literal("priority"),
  order: z.array(modelId).min(1, "a priority order needs at least one model"),
});

const balancedStrategy = z.object({
  type: z.literal("balanced"),
  /** Relative weights of normalised cost, latency and quality; they need not sum to 1. */
  weights: z
    .object({
      cost: z.number().nonnegative().default(1),
      latency: z.number().nonnegative().default(1),
      quality: z.number().nonnegative().default(1),
    })
    .refine((w) => w.cost + w.latency + w.quality > 0, "at least one weight must be above 0"),
});

export const strategySchema = z.discriminatedUnion("type", [
  cheapestStrategy,
  fastestStrategy,
  qualityStrategy,
  weightedStrategy,
  priorityStrategy,
  balancedStrategy,
]);

export const StrategyTypes = ["cheapest", "fastest", "quality", "weighted", "priority", "balanced"] as const;

export const constraintsSchema = z.object({
  /** Only these providers may serve the tenant; absent allows all. */
  allowedProviders: z.array(z.string().min(1)).optional(),
  /** Only these model ids may serve the tenant; absent allows all. */
  allowedModels: z.array(modelId).optional(),
  /** Capabilities every candidate must have, on top of those the request itself needs. */
  requiredCapabilities: z.array(z.enum(CapabilityNames)).default([]),
  /** Candidates whose estimated cost for one request is above this are excluded. */
  maxPricePerRequestUsd: usd.optional(),
  /** The model must carry at least one of these residency tags (e.g. `["eu"]`); absent allows all. */
  residency: z.array(z.string().min(1)).min(1).optional(),
  /** What happens to a candidate whose circuit breaker is open: ranked last, or excluded. */
  openBreaker: z.enum(["last", "exclude"]).default("last"),
  /**
   * Completion tokens assumed when the request sets no `max_tokens`, for cost estimates
   * (strategies, price caps, budgets). Context fit uses only what the request asks for.
   */
  assumedOutputTokens: z.number().int().positive().default(1024),
});

/**
 * What a tenant alias means: a list of models (tried in the alias's strategy, or in the listed
 * order when it names none), or a strategy over every model the constraints allow.
 */
export const aliasSchema = z
  .object({
    models: z.array(modelId).min(1).optional(),
    strategy: strategySchema.optional(),
  })
  .refine(
    (a) => a.models !== undefined || a.strategy !== undefined,
    "an alias needs `models`, `strategy` or both",
  );

export const routingSchema = z.object({
  /** The strategy for `model: "auto"` and for aliases that name no strategy of their own. */
  strategy: strategySchema.prefault({ type: "cheapest" }),
  constraints: constraintsSchema.prefault({}),
  /** Tenant aliases; they shadow catalog aliases of the same name. */
  aliases: z
    .record(
      z.string().regex(/^[A-Za-z0-9._:/-]{1,64}$/, "alias names use 1-64 of A-Z a-z 0-9 . _ : / -"),
      aliasSchema,
    )
    .default({}),
});

/**
 * How the tenant's prompts and completions are kept in the log (docs/security.md): sealed with
 * the tenant's data key (`encrypted`), as SHA-256 digests only (`hashes`), or not at all
 * (`none`). Metadata is stored in the clear in every mode.
 */
export const contentStoreSchema = z.strictObject({
  store: z.enum(["encrypted", "hashes", "none"]).default("encrypted"),
});

/**
 * Hedged requests (docs/reliability.md): when the first attempt has produced no first token by
 * the deadline, the next candidate is called as well and the first to produce a token wins.
 * The deadline is `afterMs`, or the `afterPercentile` of the candidate's observed time to first
 * token (falling back to `afterMs`, when both are given, until enough latencies are observed).
 */
export const hedgeSchema = z
  .strictObject({
    /** Milliseconds without a first token after which the hedge starts. */
    afterMs: z.number().int().positive().max(600_000).optional(),
    /** Percentile (50..99.9) of the first candidate's observed time to first token. */
    afterPercentile: z.number().min(50).max(99.9).optional(),
    /** Hedges the tenant may start per minute, across all instances; absent: no limit. */
    maxHedgesPerMinute: z.number().int().positive().optional(),
    /** Extra cost (the losing attempts') the tenant may spend on hedging per UTC day; absent: no limit. */
    maxExtraCostUsdPerDay: usd.optional(),
  })
  .refine(
    (h) => h.afterMs !== undefined || h.afterPercentile !== undefined,
    "a hedge needs `afterMs`, `afterPercentile` or both",
  );

export const policyDocumentSchema = z.strictObject({
  routing: routingSchema.prefault({}),
  pipeline: pipelineSchema.prefault({}),
  limits: quotaLimitsSchema.prefault({}),
  content: contentStoreSchema.prefault({}),
  /** The exact response cache (docs/caching.md); off unless set. */
  cache: cachePolicySchema.prefault({}),
  /** Hedged requests; absent: never hedged. */
  hedge: hedgeSchema.optional(),
});

export type Strategy = z.infer<typeof strategySchema>;
export type StrategyType = Strategy["type"];
export type RoutingConstraints = z.infer<typeof constraintsSchema>;
export type AliasTarget = z.infer<typeof aliasSchema>;
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
/** The `hedge` section of a policy document. */
export type HedgePolicy = z.infer<typeof hedgeSchema>;
/** A policy document as people write it: every defaulted field may be left out. */
export type PolicyDocumentInput = z.input<typeof policyDocumentSchema>;

/** A published policy: the document plus who it is for and which version it is. */
export interface VersionedPolicy {
  tenant: string;
  /** 1 for the first published document of the tenant, then +1 per publish; 0 for the built-in default. */
  version: number;
  document: PolicyDocument;
}

/** The name decisions record for the built-in default policy. */
export const DEFAULT_POLICY_ID = "default";

/**
 * Parses a policy document, reporting every problem at once with its path, or throws
 * `BL_POLICY_INVALID`.
 */
export function parsePolicyDocument(input: unknown): PolicyDocument {
  const parsed = policyDocumentSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "(document)"}: ${i.message}`);
    throw new BeamlineError(
      "BL_POLICY_INVALID",
      `policy document is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.join("\n")}`,
    );
  }
  return parsed.data;
}

/** The policy of a tenant that has none: cheapest model for `auto`, no constraints, no extensions, no limits. */
export function defaultPolicy(tenant: string): VersionedPolicy {
  return { tenant, version: 0, document: DEFAULT_POLICY_DOCUMENT };
}

/** Recursively frozen, so the one shared copy cannot be changed by a caller. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The built-in policy's document, parsed once: every request of a tenant without a policy of
 * its own reads it (several times per request), and parsing it each time was 0.1 ms of zod per
 * request at saturation (bench/RESULTS.md).
 */
const DEFAULT_POLICY_DOCUMENT: PolicyDocument = deepFreeze(policyDocumentSchema.parse({}));

/** The policy id decisions record: the tenant's id, or `default` for the built-in policy. */
export function policyId(policy: VersionedPolicy): string {
  return policy.version === 0 ? DEFAULT_POLICY_ID : `tenant:${policy.tenant}`;
}
