export type { PolicyAdminDeps } from "./policies.js";
export { registerPolicyAdminRoutes } from "./policies.js";
export type { AdminRoutes, AdminScopeOptions } from "./protected-scope.js";
export { ADMIN_PREFIX, adminTokenMatches, registerAdminRoutes } from "./protected-scope.js";
export { spendAdminRoutes } from "./spend.js";
export { tenancyAdminRoutes } from "./tenancy-routes.js";
export type { OpenTenantExport, TenantEventsRequest } from "./tenant-events.js";
export { tenantEventsRoutes } from "./tenant-events.js";
