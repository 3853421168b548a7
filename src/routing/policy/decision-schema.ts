import { z } from "zod";
import { chatRequestSchema } from "../../chat/index.js";
import { healthSnapshotSchema, quotaStateSchema } from "./inputs.js";

// The shape of a routing decision belongs to the engine that makes it; the event catalogue
// (`route.decided`, src/events) stores exactly this.

/** One ranked candidate of a decision. */
export const candidateSchema = z.object({
  provider: z.string(),
  /** Beamline's model id from the catalog. */
  model: z.string(),
  /** The model name the provider knows. */
  upstreamModel: z.string(),
  score: z.number(),
  reason: z.string(),
  /** Estimated cost of this request on this candidate, nano-USD (policy-engine decisions). */
  estimatedCostNanoUsd: z.number().int().nonnegative().optional(),
  /** Breaker state the health snapshot gave this candidate when it was ranked. */
  breaker: z.enum(["closed", "open", "half_open"]).optional(),
});

/** A model the policy left out, and why (stable reason, human detail). */
export const exclusionSchema = z.object({
  provider: z.string(),
  model: z.string(),
  reason: z.string(),
  detail: z.string(),
});

export const routeDecidedV1 = z.object({
  policy: z.string(),
  catalogVersion: z.string(),
  /** Ranked best first; execution tries them in order. */
  candidates: z.array(candidateSchema).min(1),
  // The fields below are recorded by the policy engine: every input needed to recompute the
  // decision besides the request, the policy document and the catalog (named by version).
  /** Version of the tenant's policy; 0 is the built-in default policy. */
  policyVersion: z.number().int().nonnegative().optional(),
  /** The `model` the request asked for (id, catalog alias, tenant alias or `auto`). */
  requestedModel: z.string().optional(),
  /** The strategy that ranked the candidates, with its parameters. */
  strategy: z.looseObject({ type: z.string() }).optional(),
  /** The per-request seed (splits without a sticky key). */
  seed: z.string().optional(),
  /** Health of the models considered, at the snapshot's revision. */
  health: healthSnapshotSchema.optional(),
  /** The quota state the decision saw. */
  quota: quotaStateSchema.optional(),
  /** What the request needed: estimated prompt tokens, requested output tokens, capabilities. */
  estimate: z
    .object({
      promptTokens: z.number().int().nonnegative(),
      requestedOutputTokens: z.number().int().positive().optional(),
      capabilities: z.array(z.string()),
    })
    .optional(),
  /** Models left out and why. */
  excluded: z.array(exclusionSchema).optional(),
  /**
   * The request as routed and executed, when the tenant's pre-processing extensions changed
   * it (masked PII, defaults, clamps); absent means request.accepted's request unchanged.
   * Stored here so the decision replays and a redelivered worker executes the same request.
   */
  request: chatRequestSchema.optional(),
  /**
   * `embeddings` when the request asked for embeddings: only embedding models were considered
   * and `request` holds the routing view of its inputs. Absent means chat.
   */
  operation: z.enum(["chat", "embeddings"]).optional(),
  /**
   * The providers the deciding instance could reach: it routed over the catalog of
   * `catalogVersion` restricted to their models. Absent: the whole catalog.
   */
  catalogProviders: z.array(z.string()).optional(),
});

/** The data of a `route.decided` event. */
export type RouteDecision = z.infer<typeof routeDecidedV1>;
