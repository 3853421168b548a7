import { z } from "zod";
import { BeamlineError } from "../errors/index.js";

const pricesSchema = z.object({
  inputPerMTokUsd: z.number().nonnegative(),
  outputPerMTokUsd: z.number().nonnegative(),
  /** Price of prompt tokens the provider served from its cache; defaults to the input price. */
  cachedInputPerMTokUsd: z.number().nonnegative().optional(),
});

export const capabilitiesSchema = z.object({
  tools: z.boolean().default(false),
  vision: z.boolean().default(false),
  jsonMode: z.boolean().default(false),
  streaming: z.boolean().default(true),
});

/** Names of the capabilities a request may need, as policies and exclusion reasons spell them. */
export const CapabilityNames = ["tools", "vision", "jsonMode", "streaming"] as const;
export type Capability = (typeof CapabilityNames)[number];

/**
 * What a model does: `chat` answers chat completions (and the front doors built on them);
 * `embedding` turns text into vectors (`POST /v1/embeddings`). Routing only picks models of the
 * kind the request's operation needs.
 */
export const ModelKinds = ["chat", "embedding"] as const;
export type ModelKind = (typeof ModelKinds)[number];

export const catalogModelSchema = z.object({
  /** Beamline's model id: what clients put in `model`. */
  id: z.string().min(1),
  provider: z.string().min(1),
  /** Absent means `chat`: every entry written before embeddings existed is a chat model. */
  kind: z.enum(ModelKinds).default("chat"),
  /**
   * Length of the vectors an embedding model returns by default; the request's `dimensions`
   * may ask for fewer where the provider supports it. Only for `kind: embedding`.
   */
  dimensions: z.number().int().positive().optional(),
  upstreamModel: z.string().min(1),
  aliases: z.array(z.string().min(1)).default([]),
  prices: pricesSchema,
  contextWindow: z.number().int().positive().optional(),
  /** Longest completion the model produces, in tokens; absent means only the context window bounds it. */
  maxOutputTokens: z.number().int().positive().optional(),
  /**
   * What the model supports. Absent flags are false, except streaming (every provider adapter
   * streams), so a catalog entry never claims a feature nobody wrote down.
   */
  capabilities: capabilitiesSchema.default({ tools: false, vision: false, jsonMode: false, streaming: true }),
  /** Relative answer quality from 0 (worst) to 1 (best), set by whoever curates the catalog. */
  qualityScore: z.number().min(0).max(1).optional(),
  /** Where the provider processes data for this model, e.g. `eu`, `us`; used by residency constraints. */
  residency: z.array(z.string().min(1)).default([]),
});

export const catalogSchema = z
  .object({
    /** Recorded on every decision and usage record, so a cost can be recomputed later. */
    version: z.string().min(1),
    models: z.array(catalogModelSchema).min(1),
  })
  .superRefine((catalog, ctx) => {
    const seen = new Set<string>();
    for (const model of catalog.models) {
      if (model.dimensions !== undefined && model.kind !== "embedding") {
        ctx.addIssue({
          code: "custom",
          message: `model ${model.id} has dimensions but is not an embedding model`,
        });
      }
      for (const name of [model.id, ...model.aliases]) {
        if (seen.has(name)) ctx.addIssue({ code: "custom", message: `model name ${name} is defined twice` });
        seen.add(name);
      }
    }
  });

export type CatalogModel = z.infer<typeof catalogModelSchema>;
export type CatalogDocument = z.infer<typeof catalogSchema>;
/** A catalog document as written by people: defaulted fields may be left out. */
export type CatalogDocumentInput = z.input<typeof catalogSchema>;

/** A validated, indexed model catalog. Immutable: a new catalog version is a new object. */
export interface ModelCatalog {
  readonly version: string;
  readonly models: readonly CatalogModel[];
  /** The validated document this catalog was built from (what `catalog.published` carries). */
  readonly document: CatalogDocument;
  /** The model a requested name (id or alias) means, or undefined. */
  resolve(name: string): CatalogModel | undefined;
  /**
   * Set when this is the published catalog restricted to the models of these providers
   * (sorted), by {@link withProviders}; absent for the whole catalog of {@link version}.
   */
  readonly providers?: readonly string[];
}

export function parseCatalog(document: unknown): ModelCatalog {
  const parsed = catalogSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new BeamlineError("BL_CONFIG_INVALID", `model catalog is invalid:\n${problems.join("\n")}`);
  }
  const byName = new Map<string, CatalogModel>();
  for (const model of parsed.data.models) {
    byName.set(model.id, model);
    for (const alias of model.aliases) byName.set(alias, model);
  }
  return Object.freeze({
    version: parsed.data.version,
    models: Object.freeze(parsed.data.models),
    document: parsed.data,
    resolve: (name: string) => byName.get(name),
  });
}

/**
 * The catalog restricted to models whose provider this deployment can reach. It keeps the
 * published version (billing prices by it) and names the providers it kept, so a decision
 * made over it can record the restriction and replay against the published document.
 */
export function withProviders(catalog: ModelCatalog, providers: ReadonlySet<string>): ModelCatalog {
  const restricted = parseCatalog({
    version: catalog.version,
    models: catalog.models.filter((m) => providers.has(m.provider)),
  });
  return Object.freeze({ ...restricted, providers: Object.freeze([...providers].sort()) });
}

/**
 * Whether a credential's model scope (API key or producer; undefined = every model) admits
 * `model`: by the requested name itself or, through the catalog, the model it resolves to (its
 * id or any of its aliases). A credential scoped to `fast` may ask for the model `fast` points
 * at, and the other way round.
 */
export function isModelInScope(
  scope: readonly string[] | undefined,
  model: string,
  catalog: ModelCatalog,
): boolean {
  if (scope === undefined || scope.includes(model)) return true;
  const resolved = catalog.resolve(model);
  return (
    resolved !== undefined &&
    (scope.includes(resolved.id) || resolved.aliases.some((alias) => scope.includes(alias)))
  );
}
