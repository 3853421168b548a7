import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { BeamlineError } from "../../errors/index.js";

/** Every admin route lives under this prefix. */
export const ADMIN_PREFIX = "/admin/v1";

/** Adds routes to an admin scope; paths are relative to {@link ADMIN_PREFIX}. */
export type AdminRoutes = (admin: FastifyInstance) => void | Promise<void>;

export interface AdminScopeOptions {
  /** `BEAMLINE_ADMIN_TOKEN`; undefined leaves the admin API unmounted, so it answers 404. */
  adminToken: string | undefined;
}

/**
 * Mounts `routes` under `/admin/v1`, behind the admin bearer token. Any module can call this
 * to add its own admin routes (tenants and keys here; policies and the catalog elsewhere):
 * each call gets its own encapsulated scope with the same check, so no route can be added to
 * the prefix without it. The admin token is not a tenant key and tenant keys are not admin
 * tokens: the two are checked by different hooks against different stores.
 */
export function registerAdminRoutes(
  app: FastifyInstance,
  options: AdminScopeOptions,
  routes: AdminRoutes,
): void {
  const { adminToken } = options;
  if (!adminToken) return;
  app.register(
    async (admin) => {
      admin.addHook("onRequest", async (request) => {
        if (!adminTokenMatches(request.headers.authorization, adminToken)) {
          throw new BeamlineError(
            "BL_ADMIN_UNAUTHORIZED",
            "The admin API needs `Authorization: Bearer <BEAMLINE_ADMIN_TOKEN>`.",
          );
        }
      });
      await routes(admin);
    },
    { prefix: ADMIN_PREFIX },
  );
}

/**
 * Compares the presented bearer token with the configured one in constant time: both are
 * hashed first, so neither the content nor the length of the token leaks through timing.
 */
export function adminTokenMatches(authorization: string | undefined, adminToken: string): boolean {
  const match = typeof authorization === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  const presented = createHash("sha256")
    .update(match?.[1] ?? "")
    .digest();
  const expected = createHash("sha256").update(adminToken).digest();
  return timingSafeEqual(presented, expected) && match !== null;
}
