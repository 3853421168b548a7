import { applyHeapGrowth } from "../src/runtime/heap-growth.js";
import {
  capYoungGeneration,
  holdYoungGeneration,
  youngGenerationCapMb,
} from "../src/runtime/young-generation.js";

/**
 * The router's memory rules for the skeleton (c3), imported before anything else it loads so
 * that they hold while its modules load, as `bin/beamline.js` holds them for the router: heap
 * growth 25 % above the live heap (BEAMLINE_HEAP_GROWING_PERCENT's default), and the young
 * generation held at its starting size until {@link releaseYoungGeneration}. Without the hold,
 * loading the modules grows the young generation for good, and the skeleton's idle memory is
 * no floor for the router's.
 */
applyHeapGrowth(25);
holdYoungGeneration();

/**
 * Lets the young generation grow again once the modules are loaded, as the router's default
 * (`auto`) does: to 16 MB on one core, by V8's own rule on more.
 */
export function releaseYoungGeneration(): void {
  capYoungGeneration(youngGenerationCapMb("auto"));
}
