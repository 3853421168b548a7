export type { ApiKeyRecord } from "./api-keys.js";
export { apiKeyKvKey, reduceApiKey } from "./api-keys.js";
export { apiKeysProjector, decodeApiKeyRecord, projectApiKeyEvent } from "./api-keys-projector.js";
