export type { ApiKeyRecord } from "./api-keys.js";
export { apiKeyKvKey, reduceApiKey } from "./api-keys.js";
export { apiKeysProjector, decodeApiKeyRecord, projectApiKeyEvent } from "./api-keys-projector.js";
export type { CatalogRecord, PolicyRecord } from "./config-documents.js";
export { CATALOG_KV_KEY, reduceCatalog, reducePolicy } from "./config-documents.js";
export { configDocumentsProjector, projectConfigDocumentEvent } from "./config-documents-projector.js";
