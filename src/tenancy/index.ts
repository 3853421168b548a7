export type { ContentKeyEraser, ErasedTenant, IssuedKey, KeyView, RotatedKey, TenantView } from "./admin.js";
export { keyViewOf, openTenancyAdmin, TenancyAdmin } from "./admin.js";
export type {
  CreateTenantInput,
  DisableTenantInput,
  IssueKeyInput,
  IssueProducerInput,
  RotateKeyInput,
} from "./admin-inputs.js";
export {
  createTenantInputSchema,
  disableTenantInputSchema,
  issueKeyInputSchema,
  issueProducerInputSchema,
  parseAdminInput,
  rotateKeyInputSchema,
  tenantIdSchema,
} from "./admin-inputs.js";
export type { DevBootstrapResult } from "./bootstrap.js";
export { bootstrapDevTenant, DEV_TENANT } from "./bootstrap.js";
export type { DevKeyPlan } from "./dev-key-guard.js";
export { assertNoActiveDevKey, isLoopbackHost, planDevKey } from "./dev-key-guard.js";
export type { ApiKeyCache } from "./key-cache.js";
export { watchApiKeys } from "./key-cache.js";
export { generateApiKey, hashApiKey, keyPrefix } from "./keys.js";
export type { ProducerCache } from "./producer-cache.js";
export { watchProducers } from "./producer-cache.js";
export type {
  IssuedProducer,
  IssueProducerDeps,
  ProducerCredentialMinter,
  ProducerCredentials,
  ProducerGrant,
  ProducerView,
} from "./producers.js";
export {
  issueProducer,
  newProducerId,
  openProducerAdmin,
  ProducerAdmin,
  producerGrant,
  producerViewOf,
} from "./producers.js";
export type { TenantCache } from "./tenant-cache.js";
export { watchTenants } from "./tenant-cache.js";
