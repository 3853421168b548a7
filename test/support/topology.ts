import type { TopologySettings } from "../../streams/index.js";

/** One day in nanoseconds, the unit of a stream's `max_age`. */
export const DAY_NS = 86_400_000 * 1_000_000;

/** The topology settings of a router with no BEAMLINE_* variables set. */
export const DEFAULT_TOPOLOGY_SETTINGS: TopologySettings = {
  replicas: 1,
  requestRetentionDays: 30,
  usageRetentionDays: 400,
  duplicateWindowMs: 600_000,
  persistMode: "default",
  ackWaitMs: 30_000,
  maxDeliver: 20,
  maxAckPending: 4096,
};

/** Settings for a throwaway test server: one-day retention, a short duplicate window, few redeliveries. */
export const SHORT_LIVED_TOPOLOGY_SETTINGS: TopologySettings = {
  replicas: 1,
  requestRetentionDays: 1,
  usageRetentionDays: 1,
  duplicateWindowMs: 60_000,
  persistMode: "default",
  ackWaitMs: 30_000,
  maxDeliver: 5,
  maxAckPending: 1000,
};
