import type { ModelCatalog } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import type { PolicyView } from "../policies/index.js";
import { AUTO_MODEL, kindFor, modelKindMismatch, type Operation } from "../routing/index.js";

/**
 * Which request `model` names the gateway lets through, and what `GET /v1/models` lists: the
 * names the routing stage can resolve for the tenant. Pure over the live views it is given.
 */

/** The live views the model check reads; both are read per request, so changes apply at once. */
export interface ModelViews {
  /** The current model catalog (a live view's `current`). */
  catalog: () => ModelCatalog;
  /** Tenant policies; without it tenant aliases are unknown to the gateway (only catalog names and `auto`). */
  policies?: PolicyView | undefined;
}

/** The tenant aliases of `tenant`'s current policy, in the document's order. */
export function tenantAliases(views: ModelViews, tenant: string): string[] {
  if (!views.policies) return [];
  return Object.keys(views.policies.policyFor(tenant).document.routing.aliases);
}

/**
 * True when `model` is something the tenant's policy can resolve: a catalog id or alias,
 * `auto`, or a tenant alias of its policy document. Mirrors the policy engine's resolution
 * order, so the gateway never lets through a name the router would answer BL_UNKNOWN_MODEL to
 * (and never refuses one it would route).
 */
export function isResolvableModel(views: ModelViews, tenant: string, model: string): boolean {
  if (views.policies) {
    const aliases = views.policies.policyFor(tenant).document.routing.aliases;
    if (Object.hasOwn(aliases, model)) return true;
  }
  if (model === AUTO_MODEL) return true;
  return views.catalog().resolve(model) !== undefined;
}

/**
 * Throws `BL_UNKNOWN_MODEL` (404, param `model`) for a model the tenant's policy cannot resolve,
 * and `BL_MODEL_KIND_MISMATCH` (400) for a catalog model that cannot serve `operation` (default
 * chat): an embedding model asked to chat, a chat model asked to embed. Aliases and `auto` are
 * left to the policy engine, which considers only models of the right kind.
 */
export function assertKnownModel(
  views: ModelViews,
  tenant: string,
  model: string,
  operation: Operation = "chat",
): void {
  if (!isResolvableModel(views, tenant, model)) {
    throw new BeamlineError(
      "BL_UNKNOWN_MODEL",
      `The model \`${model}\` does not exist or is not available here; GET /v1/models lists the models you can use.`,
      { param: "model" },
    );
  }
  const tenantAlias = views.policies
    ? Object.hasOwn(views.policies.policyFor(tenant).document.routing.aliases, model)
    : false;
  if (tenantAlias || model === AUTO_MODEL) return;
  const resolved = views.catalog().resolve(model);
  if (resolved && resolved.kind !== kindFor(operation)) throw modelKindMismatch(model, operation);
}

/** One entry of OpenAI's model list; `beamline_resolution` marks names that are not catalog models. */
export interface ModelListEntry {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** `tenant-alias` (resolved by the tenant's policy) or `auto` (the policy chooses); absent for catalog models. */
  beamline_resolution?: "tenant-alias" | "auto";
}

/**
 * `GET /v1/models` for `tenant`: every model of the live catalog (owned by its provider), then
 * the tenant's policy aliases and `auto`, marked with `beamline_resolution` and owned by
 * `beamline`. A tenant alias that shadows a catalog id is listed once, as the alias, because
 * the policy wins when the router resolves it.
 */
export function listModels(
  views: ModelViews,
  tenant: string,
  /** The key's model scope: entries it does not admit are left out. */
  allowed: (model: string) => boolean = () => true,
): { object: "list"; data: ModelListEntry[] } {
  const aliases = tenantAliases(views, tenant);
  const shadowed = new Set(aliases);
  const data: ModelListEntry[] = views
    .catalog()
    .models.filter((model) => !shadowed.has(model.id))
    .map((model) => ({ id: model.id, object: "model", created: 0, owned_by: model.provider }));
  for (const alias of aliases) {
    data.push({
      id: alias,
      object: "model",
      created: 0,
      owned_by: "beamline",
      beamline_resolution: "tenant-alias",
    });
  }
  if (!shadowed.has(AUTO_MODEL)) {
    data.push({
      id: AUTO_MODEL,
      object: "model",
      created: 0,
      owned_by: "beamline",
      beamline_resolution: "auto",
    });
  }
  return { object: "list", data: data.filter((entry) => allowed(entry.id)) };
}
