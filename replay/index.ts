export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
export type { StoredEvent } from "./request-history.js";
export { readEvents, readRequestHistory, readTenantUsage } from "./request-history.js";
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
