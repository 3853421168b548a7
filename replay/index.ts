export {
  type AuditLine,
  auditLineOf,
  auditLineSchema,
  formatAuditLine,
  type HistoryRecord,
  parseEventTypes,
  type StoredPlace,
  tenantStreamOfType,
} from "./audit-line.js";
export { type AuditVerifyOptions, type StreamAuditReport, verifyAudit } from "./audit-verify.js";
export type { Discrepancy, DiscrepancyKind, RequestFacts } from "./billing-checks.js";
export { checkRequest, DiscrepancyKinds } from "./billing-checks.js";
export type { FieldDifference } from "./decision-diff.js";
export { diffDecision } from "./decision-diff.js";
export { LogDocuments } from "./log-documents.js";
export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
export type { ReconcileOptions, ReconcileReport } from "./reconcile-billing.js";
export { reconcileBilling } from "./reconcile-billing.js";
export { readRequestHistory, readTenantUsage } from "./request-history.js";
export {
  requestTimeline,
  TIMELINE_HEADERS,
  type TimelineStep,
  timelineRows,
} from "./request-timeline.js";
export {
  type HistoryReadOptions,
  type HistorySource,
  openTenantExport,
  readTenantHistory,
  type TenantExportRequest,
  type TenantHistoryQuery,
  tenantExists,
  tenantHistorySources,
} from "./tenant-history.js";
export type { UsageCloudEvent, UsageExportOptions } from "./usage-export.js";
export {
  readUsageRecords,
  toUsageCloudEvent,
  USAGE_CLOUDEVENT_TYPE,
  usageIdempotencyKey,
} from "./usage-export.js";
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
export type { DecisionMismatch, DecisionsVerification, VerifyDecisionsOptions } from "./verify-decisions.js";
export { verifyDecisions } from "./verify-decisions.js";
export type { WhatIfRun } from "./whatif.js";
export { runWhatIf } from "./whatif.js";
export type { CacheFacts, CacheWhatIfReport, NotCacheableReason } from "./whatif-cache.js";
export { CacheWhatIf, NotCacheableReasons } from "./whatif-cache.js";
export type { GatheredRequest } from "./whatif-facts.js";
export { cacheFacts, hedgeFacts, RequestGatherer, recordedRequest } from "./whatif-facts.js";
export type { HedgeAttemptFacts, HedgeFacts, HedgeWhatIfReport } from "./whatif-hedge.js";
export { HedgeWhatIf } from "./whatif-hedge.js";
export { LatencyHistogram } from "./whatif-latency.js";
export type {
  RecordedAttempt,
  RecordedRequest,
  WhatIfAlternative,
  WhatIfModelRow,
  WhatIfRefusal,
  WhatIfReport,
} from "./whatif-report.js";
export { WhatIf, whatIfReport } from "./whatif-report.js";
