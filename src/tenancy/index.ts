export type { ContentKeyEraser, ErasedTenant, IssuedKey, KeyView, RotatedKey, TenantView } from "./admin.js";
export { keyViewOf, openTenancyAdmin, TenancyAdmin } from "./admin.js";
export type {
  CreateTenantInput,
  DisableTenantInput,
  IssueKeyInput,
  RotateKeyInput,
} from "./admin-inputs.js";
export {
  createTenantInputSchema,
  disableTenantInputSchema,
  issueKeyInputSchema,
  parseAdminInput,
  rotateKeyInputSchema,
  tenantIdSchema,
} from "./admin-inputs.js";
export type { DevBootstrapResult } from "./bootstrap.js";
export { bootstrapDevTenant, DEV_TENANT } from "./bootstrap.js";
export type { ApiKeyCache } from "./key-cache.js";
export { watchApiKeys } from "./key-cache.js";
export { generateApiKey, hashApiKey, keyPrefix } from "./keys.js";
export type { TenantCache } from "./tenant-cache.js";
export { watchTenants } from "./tenant-cache.js";
