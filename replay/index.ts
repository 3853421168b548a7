export type { FieldDifference } from "./decision-diff.js";
export { DECIDED_FIELDS, diffDecision } from "./decision-diff.js";
export { LogDocuments } from "./log-documents.js";
export { type ProjectionCheck, verifyProjections } from "./rebuild-projections.js";
export { readRequestHistory, readTenantUsage } from "./request-history.js";
export { readCatalogVersion, verifyRecordedDecision } from "./verify-decision.js";
export type { DecisionMismatch, DecisionsVerification, VerifyDecisionsOptions } from "./verify-decisions.js";
export { verifyDecisions } from "./verify-decisions.js";
export type { WhatIfRun } from "./whatif.js";
export { runWhatIf } from "./whatif.js";
export type { GatheredRequest } from "./whatif-facts.js";
export { RequestGatherer, recordedRequest } from "./whatif-facts.js";
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
