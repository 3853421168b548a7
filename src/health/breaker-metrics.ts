import { BreakerStateValues, type GaugeSample } from "../observability/index.js";
import type { HealthView } from "./view.js";

/**
 * `beamline_breaker_state` read from the live health view at scrape time: one sample per
 * provider/model the projection knows (0 closed, 1 half-open, 2 open). Half-open is derived
 * from the cooldown as the executor derives it, so the gauge shows what admission would do now.
 */
export function breakerStateSamples(
  health: Pick<HealthView, "all" | "state">,
): GaugeSample<"provider" | "model">[] {
  return health.all().map(({ provider, model }) => ({
    labels: { provider, model },
    value: BreakerStateValues[health.state(provider, model)],
  }));
}
