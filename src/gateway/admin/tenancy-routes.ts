import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { isSafeToken } from "../../events/index.js";
import {
  createTenantInputSchema,
  disableTenantInputSchema,
  issueKeyInputSchema,
  parseAdminInput,
  rotateKeyInputSchema,
  type TenancyAdmin,
  tenantIdSchema,
} from "../../tenancy/index.js";
import type { AdminRoutes } from "./protected-scope.js";

const tenantParams = z.object({ tenant: tenantIdSchema });
const keyParams = z.object({ keyId: z.string().refine(isSafeToken, "not a key id") });
const keyListQuery = z.object({ tenant: tenantIdSchema.optional() });

const list = <T>(data: T[]) => ({ object: "list", data });

/**
 * Admin routes for tenants and API keys (see docs/tenancy.md). Every write is an event; the
 * answers to writes show what was written, listings show the live projections. A new key is
 * in the answer to its issue (or rotation) and nowhere else, ever.
 */
export function tenancyAdminRoutes(tenancy: TenancyAdmin): AdminRoutes {
  return (admin: FastifyInstance) => {
    admin.post("/tenants", async (request, reply) => {
      const input = parseAdminInput(createTenantInputSchema, request.body);
      return reply.code(201).send(await tenancy.createTenant(input));
    });
    admin.get("/tenants", async () => list(await tenancy.listTenants()));
    admin.get("/tenants/:tenant", async (request) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      return tenancy.getTenant(tenant);
    });
    admin.post("/tenants/:tenant/disable", async (request) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      return tenancy.disableTenant(tenant, parseAdminInput(disableTenantInputSchema, request.body));
    });
    admin.post("/tenants/:tenant/enable", async (request) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      return tenancy.enableTenant(tenant);
    });
    admin.post("/tenants/:tenant/keys", async (request, reply) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      const input = parseAdminInput(issueKeyInputSchema, request.body);
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send(await tenancy.issueKey(tenant, input));
    });
    admin.get("/tenants/:tenant/keys", async (request) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      await tenancy.getTenant(tenant);
      return list(await tenancy.listKeys(tenant));
    });
    admin.get("/keys", async (request) => {
      const { tenant } = parseAdminInput(keyListQuery, request.query);
      return list(await tenancy.listKeys(tenant));
    });
    admin.get("/keys/:keyId", async (request) => {
      const { keyId } = parseAdminInput(keyParams, request.params);
      return tenancy.getKey(keyId);
    });
    admin.post("/keys/:keyId/rotate", async (request, reply) => {
      const { keyId } = parseAdminInput(keyParams, request.params);
      const input = parseAdminInput(rotateKeyInputSchema, request.body);
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send(await tenancy.rotateKey(keyId, input));
    });
    admin.post("/keys/:keyId/revoke", async (request) => {
      const { keyId } = parseAdminInput(keyParams, request.params);
      return tenancy.revokeKey(keyId);
    });
  };
}
