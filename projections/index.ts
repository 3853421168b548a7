export type { ApiKeyRecord, ApiKeyState } from "./api-keys.js";
export { apiKeyKvKey, keyStateAt, reduceApiKey } from "./api-keys.js";
export { apiKeysProjector, decodeApiKeyRecord, projectApiKeyEvent } from "./api-keys-projector.js";
export type { CatalogRecord, PolicyRecord } from "./config-documents.js";
export { CATALOG_KV_KEY, reduceCatalog, reducePolicy } from "./config-documents.js";
export { configDocumentsProjector, projectConfigDocumentEvent } from "./config-documents-projector.js";
export type { ProducerRecord } from "./producers.js";
export { producerKvKey, reduceProducer } from "./producers.js";
export { decodeProducerRecord, producersProjector, projectProducerEvent } from "./producers-projector.js";
export type {
  BreakerState,
  BreakerTransition,
  HealthPolicy,
  HealthPolicyInput,
  ProviderHealth,
} from "./provider-health.js";
export {
  attemptHealth,
  breakerStateAt,
  errorRate,
  healthPolicy,
  healthPolicySchema,
  healthSignal,
  healthTarget,
  reduceProviderHealth,
} from "./provider-health.js";
export {
  createHealthProjection,
  decodeProviderHealth,
  diffProviderHealth,
  providerHealthProjector,
  readProviderHealth,
  replayProviderHealth,
  transitionEvent,
  writeProviderHealth,
} from "./provider-health-projector.js";
export { openQuotaKv, projectQuota, quotaProjector, readProjectedQuota } from "./quota-projector.js";
export { rebuildQuotaState, reduceQuota } from "./quotas.js";
export type { SpendAmounts, SpendGroup, SpendGroupBy, SpendRecord, SpendSummary } from "./spend.js";
export {
  addSpend,
  NO_KEY_TOKEN,
  noSpend,
  parseSpendKey,
  reduceSpend,
  spendKey,
  spendKvKey,
  summariseSpend,
  usageAmounts,
  utcDay,
} from "./spend.js";
export { openSpendKv, projectSpendEvent, readTenantSpend, spendProjector } from "./spend-projector.js";
export type { TenantRecord } from "./tenants.js";
export { reduceTenant, tenantKvKey } from "./tenants.js";
export { decodeTenantRecord, projectTenantEvent, tenantsProjector } from "./tenants-projector.js";
