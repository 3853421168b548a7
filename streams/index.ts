export { applyTopology, planTopology } from "./apply.js";
export type { ApplyOptions, ApplyReport } from "./apply.js";
export { ConsumerNames, KvBuckets, StreamNames, beamlineTopology } from "./definitions.js";
export type { ConsumerSpec, KvSpec, StreamSpec, Topology, TopologySettings } from "./definitions.js";
export { describeChange, needsForce, planConsumer, planKv, planStream } from "./plan.js";
export type { FieldChange, PlannedAction, PlannedChange } from "./plan.js";
