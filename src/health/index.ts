/**
 * Provider health as the router reads it: the live view of the `bl_health` projection, the
 * circuit-breaker gate the executor uses, and the names of health data in NATS. The pure
 * reducer and the projector live in projections/provider-health*.ts.
 */
export {
  fromHealthToken,
  HEALTH_KEY_FILTER,
  HEALTH_SUBJECT_ROOT,
  healthKey,
  healthSubject,
  healthToken,
  probeKey,
} from "./keys.js";
export { type HealthView, type HealthViewOptions, startHealthView } from "./view.js";
