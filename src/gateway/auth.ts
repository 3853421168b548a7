import type { FastifyInstance } from "fastify";
import { keyStateAt } from "../../projections/index.js";
import { isModelInScope, type ModelCatalog } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import type { QuotaLimits } from "../quotas/index.js";
import type { ApiKeyCache, TenantCache } from "../tenancy/index.js";
import { hashApiKey } from "../tenancy/index.js";

export interface Principal {
  tenant: string;
  apiKeyId: string;
  /** Catalog model ids or aliases the key may use; absent means every model. */
  models?: readonly string[];
  /** The key's own quota limits, for admission. */
  limits?: QuotaLimits;
}

/** The live views and clock authentication reads; nothing here does I/O. */
export interface AuthViews {
  keys: ApiKeyCache;
  tenants: TenantCache;
  now: () => Date;
}

/** The key from `Authorization: Bearer <key>` (or `x-api-key`, as Anthropic's API takes it). */
export function extractApiKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers["authorization"];
  if (typeof authorization === "string") {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" && apiKey.length > 0 ? apiKey : undefined;
}

/**
 * Resolves a key to its tenant; the key itself never leaves this function (only its hash).
 * Refuses unknown and revoked keys, keys past their expiry (at `views.now()`, so expiry needs
 * no event) and keys of a disabled tenant.
 */
export function authenticate(key: string | undefined, views: AuthViews): Principal {
  if (!key) {
    throw new BeamlineError(
      "BL_MISSING_API_KEY",
      "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
    );
  }
  const record = views.keys.get(hashApiKey(key));
  const state = record ? keyStateAt(record, views.now()) : "revoked";
  if (!record || state === "revoked") {
    throw new BeamlineError("BL_INVALID_API_KEY", "Incorrect API key provided.");
  }
  if (state === "expired") {
    throw new BeamlineError("BL_API_KEY_EXPIRED", "This API key has expired; ask for a new key.");
  }
  const status = views.tenants.get(record.tenant)?.status;
  if (status === "disabled") {
    throw new BeamlineError("BL_TENANT_DISABLED", "This API key's tenant is disabled.");
  }
  if (status === "erased") {
    throw new BeamlineError("BL_TENANT_ERASED", "This API key's tenant was erased; it takes no requests.");
  }
  const principal: Principal = { tenant: record.tenant, apiKeyId: record.keyId };
  if (record.models !== undefined) principal.models = record.models;
  if (record.limits !== undefined) principal.limits = record.limits;
  return principal;
}

/**
 * Throws `BL_MODEL_NOT_ALLOWED` (403) when the key is scoped to models and `model` is not one
 * of them. A scope entry matches the requested name itself or, through the catalog, the model
 * it resolves to (its id or any of its aliases): a key scoped to `fast` may ask for the model
 * `fast` points at, and the other way round.
 */
export function assertModelAllowed(principal: Principal, model: string, catalog: ModelCatalog): void {
  if (isModelAllowed(principal, model, catalog)) return;
  const scope = principal.models ?? [];
  throw new BeamlineError(
    "BL_MODEL_NOT_ALLOWED",
    `This API key may not use the model \`${model}\`; it is limited to: ${scope.join(", ")}.`,
    { param: "model" },
  );
}

/** Whether the key's model scope (if any) admits `model`, by name or as its catalog id/alias. */
export function isModelAllowed(principal: Principal, model: string, catalog: ModelCatalog): boolean {
  return isModelInScope(principal.models, model, catalog);
}

/**
 * Authentication for a scope of tenant-facing routes: the key is checked before the body is
 * read (a bad key costs no parsing and publishes nothing); once the body is parsed, a key's
 * model scope is checked against its `model` field (through the catalog current at that
 * moment), before any handler runs.
 */
export function registerAuthHooks(
  scope: FastifyInstance,
  deps: AuthViews & { catalog: () => ModelCatalog },
): void {
  scope.addHook("onRequest", async (request) => {
    request.principal = authenticate(extractApiKey(request.headers), deps);
  });
  scope.addHook("preHandler", async (request) => {
    const body = request.body as { model?: unknown } | undefined;
    if (request.principal && body && typeof body === "object" && typeof body.model === "string") {
      assertModelAllowed(request.principal, body.model, deps.catalog());
    }
  });
}
