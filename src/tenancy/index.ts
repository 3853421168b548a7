export type { DevBootstrapResult } from "./bootstrap.js";
export { bootstrapDevTenant, DEV_TENANT } from "./bootstrap.js";
export type { ApiKeyCache } from "./key-cache.js";
export { watchApiKeys } from "./key-cache.js";
export { generateApiKey, hashApiKey, keyPrefix } from "./keys.js";
