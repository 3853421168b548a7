export type { ApiKeyRecord, ApiKeyState } from "./api-keys.js";
export { apiKeyKvKey, keyStateAt, reduceApiKey } from "./api-keys.js";
export { apiKeysProjector, decodeApiKeyRecord, projectApiKeyEvent } from "./api-keys-projector.js";
export type { TenantRecord } from "./tenants.js";
export { reduceTenant, tenantKvKey } from "./tenants.js";
export { decodeTenantRecord, projectTenantEvent, tenantsProjector } from "./tenants-projector.js";
