import { setFlagsFromString } from "node:v8";

/**
 * The router's memory rules for the skeleton (c3), imported before anything else it loads so
 * that they hold while its modules load, as `bin/beamline.js` holds them for the router: heap
 * growth 25 % above the live heap (BEAMLINE_HEAP_GROWING_PERCENT's default), and the young
 * generation held at its starting size until {@link releaseYoungGeneration}. Without the hold,
 * loading the modules grows the young generation for good, and the skeleton's idle memory is
 * no floor for the router's.
 */
setFlagsFromString("--heap-growing-percent=25");
setFlagsFromString("--semi-space-growth-factor=1");

/** V8's own growth rule again, once the modules are loaded (the router's default, cap 0). */
export function releaseYoungGeneration(): void {
  setFlagsFromString("--semi-space-growth-factor=2");
}
