export type { ApplyOptions, ApplyReport } from "./apply.js";
export { applyTopology, planTopology } from "./apply.js";
export type { ConsumerSpec, KvSpec, StreamSpec, Topology, TopologySettings } from "./definitions.js";
export { beamlineTopology } from "./definitions.js";
export type { FieldChange, PlannedAction, PlannedChange } from "./plan.js";
export { describeChange, needsForce, planConsumer, planKv, planStream } from "./plan.js";
