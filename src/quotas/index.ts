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
export { actualUsage, admissionEstimate, withHedgeExtras } from "./estimate.js";
export type { QuotaExpired, QuotaReserved, QuotaSettled } from "./facts-schema.js";
export { quotaExpiredV1, quotaReservedV1, quotaSettledV1 } from "./facts-schema.js";
export type { QuotaLimits } from "./limits-schema.js";
export { quotaLimitsSchema } from "./limits-schema.js";
export { formatResetDuration, QuotaExceededError, rateLimitHeaders, rejectionHeaders } from "./rejection.js";
export type { Amounts, QuotaState, Reservation, ScopeUsage } from "./state.js";
export { charge, emptyQuotaState, FINISHED_KEEP_MS, prune, quotaStateSchema, withoutKey } from "./state.js";
export type { BucketSeries, WindowSpec } from "./windows.js";
export { QuotaWindows } from "./windows.js";
