import type { FastifyInstance } from "fastify";
import { BeamlineError } from "../../errors/index.js";
import { type AuthFailureLimiter, bearerTokenMatches, checkOperatorToken } from "../operator-auth.js";

/** Every admin route lives under this prefix. */
export const ADMIN_PREFIX = "/admin/v1";

/** Adds routes to an admin scope; paths are relative to {@link ADMIN_PREFIX}. */
export type AdminRoutes = (admin: FastifyInstance) => void | Promise<void>;

export interface AdminScopeOptions {
  /** `BEAMLINE_ADMIN_TOKEN`; undefined leaves the admin API unmounted, so it answers 404. */
  adminToken: string | undefined;
  /**
   * Failed admin authentications per client address; one limiter for every admin scope of
   * the gateway, so adding scopes adds no attempts.
   */
  limiter: AuthFailureLimiter;
}

/**
 * Mounts `routes` under `/admin/v1`, behind the admin bearer token. Any module can call this
 * to add its own admin routes (tenants and keys here; policies and the catalog elsewhere):
 * each call gets its own encapsulated scope with the same check, so no route can be added to
 * the prefix without it. The admin token is not a tenant key and tenant keys are not admin
 * tokens: the two are checked by different hooks against different stores. An address that
 * keeps failing is answered 429 (`BL_AUTH_RATE_LIMITED`) until it earns another attempt.
 */
export function registerAdminRoutes(
  app: FastifyInstance,
  options: AdminScopeOptions,
  routes: AdminRoutes,
): void {
  const { adminToken, limiter } = options;
  if (!adminToken) return;
  app.register(
    async (admin) => {
      admin.addHook("onRequest", async (request) => {
        checkOperatorToken(request, { token: adminToken, limiter, unauthorized: adminUnauthorized });
      });
      await routes(admin);
    },
    { prefix: ADMIN_PREFIX },
  );
}

function adminUnauthorized(): BeamlineError {
  return new BeamlineError(
    "BL_ADMIN_UNAUTHORIZED",
    "The admin API needs `Authorization: Bearer <BEAMLINE_ADMIN_TOKEN>`.",
  );
}

/** Whether an `Authorization` header carries the admin token (constant time, see {@link bearerTokenMatches}). */
export function adminTokenMatches(authorization: string | undefined, adminToken: string): boolean {
  return bearerTokenMatches(authorization, adminToken);
}
