import { z } from "zod";
import { BeamlineError } from "../errors/index.js";

const pricesSchema = z.object({
  inputPerMTokUsd: z.number().nonnegative(),
  outputPerMTokUsd: z.number().nonnegative(),
  /** Price of prompt tokens the provider served from its cache; defaults to the input price. */
  cachedInputPerMTokUsd: z.number().nonnegative().optional(),
});

export const catalogModelSchema = z.object({
  /** Beamline's model id: what clients put in `model`. */
  id: z.string().min(1),
  provider: z.string().min(1),
  upstreamModel: z.string().min(1),
  aliases: z.array(z.string().min(1)).default([]),
  prices: pricesSchema,
  contextWindow: z.number().int().positive().optional(),
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
      for (const name of [model.id, ...model.aliases]) {
        if (seen.has(name)) ctx.addIssue({ code: "custom", message: `model name ${name} is defined twice` });
        seen.add(name);
      }
    }
  });

export type CatalogModel = z.infer<typeof catalogModelSchema>;
export type CatalogDocument = z.infer<typeof catalogSchema>;

/** A validated, indexed model catalog. Immutable: a new catalog version is a new object. */
export interface ModelCatalog {
  readonly version: string;
  readonly models: readonly CatalogModel[];
  /** The model a requested name (id or alias) means, or undefined. */
  resolve(name: string): CatalogModel | undefined;
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
    resolve: (name: string) => byName.get(name),
  });
}

/** The catalog restricted to models whose provider this deployment can reach. */
export function withProviders(catalog: ModelCatalog, providers: ReadonlySet<string>): ModelCatalog {
  return parseCatalog({
    version: catalog.version,
    models: catalog.models.filter((m) => providers.has(m.provider)),
  });
}
