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
export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
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
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
