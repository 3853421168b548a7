import type { HealthPolicy } from "../../projections/index.js";
import type { BeamlineConfig } from "../config/index.js";
import type { Clock } from "../events/index.js";
import { systemClock } from "./clock.js";
import { LatencySamples } from "./latency-samples.js";
import type { ExecutionPolicy } from "./policy.js";
import { ConcurrencyPools } from "./pools.js";

/**
 * The execution policy, this process's concurrency pools and its observed latencies (for
 * hedge deadlines), from the configuration. The config schema has filled every default;
 * nothing here adds its own.
 */
export function executionFromConfig(
  config: Pick<BeamlineConfig, "execution">,
  clock: Clock = systemClock,
): { policy: ExecutionPolicy; pools: ConcurrencyPools; latency: LatencySamples } {
  const { poolMaxConcurrent, poolMaxQueued, poolQueueTimeoutMs, ...policy } = config.execution;
  const limits = Object.freeze({
    maxConcurrent: poolMaxConcurrent,
    maxQueued: poolMaxQueued,
    queueTimeoutMs: poolQueueTimeoutMs,
  });
  return {
    policy: Object.freeze(policy),
    pools: new ConcurrencyPools(() => limits, clock),
    latency: new LatencySamples(),
  };
}

/** The health policy from the configuration (already parsed); every instance must use the same one. */
export function healthPolicyFromConfig(config: Pick<BeamlineConfig, "health">): HealthPolicy {
  return config.health;
}
