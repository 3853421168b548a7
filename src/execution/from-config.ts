import { type HealthPolicy, healthPolicy } from "../../projections/provider-health.js";
import type { BeamlineConfig } from "../config/index.js";
import type { Clock } from "../events/index.js";
import { systemClock } from "./clock.js";
import { type ExecutionPolicy, executionPolicy } from "./policy.js";
import { ConcurrencyPools } from "./pools.js";

/** Keeps the fields that are set, so the policy schemas fill in their own defaults. */
function setFields<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

/** The execution policy and this process's concurrency pools, from the configuration. */
export function executionFromConfig(
  config: Pick<BeamlineConfig, "execution">,
  clock: Clock = systemClock,
): { policy: ExecutionPolicy; pools: ConcurrencyPools } {
  const { poolMaxConcurrent, poolMaxQueued, poolQueueTimeoutMs, ...policy } = config.execution;
  const limits = Object.freeze({
    maxConcurrent: poolMaxConcurrent,
    maxQueued: poolMaxQueued,
    queueTimeoutMs: poolQueueTimeoutMs,
  });
  return { policy: executionPolicy(setFields(policy)), pools: new ConcurrencyPools(() => limits, clock) };
}

/** The health policy from the configuration; every instance must use the same one. */
export function healthPolicyFromConfig(config: Pick<BeamlineConfig, "health">): HealthPolicy {
  return healthPolicy(setFields(config.health));
}
