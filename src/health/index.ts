/**
 * Provider health as the router reads it: the live view of the `bl_health` projection, the
 * circuit-breaker gate the executor uses, and the names of health data in NATS. The pure
 * reducer and the projector live in projections/provider-health*.ts.
 */

export { breakerStateSamples } from "./breaker-metrics.js";
export { type HealthView, type HealthViewOptions, startHealthView } from "./view.js";
