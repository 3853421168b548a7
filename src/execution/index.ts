/**
 * Execution: calling the ranked candidates of a routing decision with timeouts, retries,
 * failover, circuit breakers and concurrency pools. Independent of NATS: the request worker
 * passes hooks that store attempts and relay chunks.
 */
export { sleep, systemClock } from "./clock.js";
export {
  type Admission,
  type AttemptRecord,
  type BreakerGate,
  type Candidate,
  ExecutionErrorClass,
  type ExecutionHooks,
  type ExecutionInput,
  type ExecutionOutcome,
  executeCandidates,
} from "./executor.js";
export { executionFromConfig, healthPolicyFromConfig } from "./from-config.js";
export { type HedgeGrant, type HedgeSettings, type HedgeTicket, isLost } from "./hedge.js";
export {
  type AttemptHedge,
  decideHedgeBudget,
  type HedgeDeadline,
  type HedgeUsage,
  hedgeDeadline,
  MIN_HEDGE_SAMPLES,
} from "./hedge-policy.js";
export { LatencySamples } from "./latency-samples.js";
export {
  backoffDelayMs,
  decideNextStep,
  type ExecutionPolicy,
  type ExecutionPolicyInput,
  executionPolicy,
  type FailureFacts,
  type NextStep,
} from "./policy.js";
export { ConcurrencyPools, type PoolLimits, type ReleaseSlot } from "./pools.js";
export { type CallTimeouts, callWithTimeouts, type TimedCall } from "./timeouts.js";
