export type {
  AdmissionDecision,
  AdmissionRequest,
  ApplicableLimits,
  QuotaFact,
  QuotaLimitName,
  QuotaRejection,
  RateLimitInfo,
  RateLimitStatus,
} from "./decide.js";
export {
  decideAdmission,
  decideSettlement,
  expiredReservations,
  rateLimitInfo,
  usdToNano,
} from "./decide.js";
export type { QuotaAmount } from "./estimate.js";
export { actualUsage, admissionEstimate } from "./estimate.js";
export type { QuotaLimits } from "./limits-schema.js";
export { quotaLimitsSchema } from "./limits-schema.js";
export type { AdmitInput, AdmitResult, QuotaLedgerOptions } from "./quota-ledger.js";
export { hasAnyLimit, QuotaLedger } from "./quota-ledger.js";
export type { AppendOutcome, StoredQuotaEvent } from "./quota-log.js";
export { QuotaLog } from "./quota-log.js";
export { openQuotaKv, projectQuota, quotaProjector, readProjectedQuota } from "./quota-projector.js";
export { formatResetDuration, QuotaExceededError, rateLimitHeaders, rejectionHeaders } from "./rejection.js";
export type { QuotaState, Reservation, ScopeUsage } from "./state.js";
export {
  emptyQuotaState,
  FINISHED_KEEP_MS,
  quotaStateSchema,
  rebuildQuotaState,
  reduceQuota,
} from "./state.js";
export type { BucketSeries, WindowSpec } from "./windows.js";
export { QuotaWindows } from "./windows.js";
