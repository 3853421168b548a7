export { type AuditVerifyOptions, type StreamAuditReport, verifyAudit } from "./audit-verify.js";
export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
export { readRequestHistory, readTenantUsage } from "./request-history.js";
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
