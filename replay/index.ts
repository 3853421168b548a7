export type { Discrepancy, DiscrepancyKind, RequestFacts } from "./billing-checks.js";
export { checkRequest, DiscrepancyKinds } from "./billing-checks.js";
export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
export type { ReconcileOptions, ReconcileReport } from "./reconcile-billing.js";
export { reconcileBilling } from "./reconcile-billing.js";
export { readRequestHistory, readTenantUsage } from "./request-history.js";
export type { UsageCloudEvent, UsageExportOptions } from "./usage-export.js";
export {
  readUsageRecords,
  toUsageCloudEvent,
  USAGE_CLOUDEVENT_TYPE,
  usageIdempotencyKey,
} from "./usage-export.js";
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
