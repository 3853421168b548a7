/**
 * Quota admission: reservations and settlements written to the tenant's quota log, the
 * serialisation point that keeps a hard limit under any number of workers (docs/quotas.md).
 */

export type { HedgeBudgetState } from "./hedge-budget.js";
export { emptyHedgeBudget, hedgeUsageAt, reduceHedgeBudget } from "./hedge-budget.js";
export type { HedgeLedgerOptions } from "./hedge-ledger.js";
export { HedgeLedger } from "./hedge-ledger.js";
export type { AdmitInput, AdmitResult, QuotaLedgerOptions } from "./quota-ledger.js";
export { hasAnyLimit, QuotaLedger } from "./quota-ledger.js";
export type { AppendOutcome, StoredQuotaEvent } from "./quota-log.js";
export { QuotaLog } from "./quota-log.js";
