import { setFlagsFromString } from "node:v8";

/**
 * Sets how far V8 lets the old generation grow above the live heap before its next full
 * collection (V8's `--heap-growing-percent`, read at every full GC, so setting it after
 * start-up takes effect from the next collection). By default V8 picks a factor of up to 4 on
 * a machine with gigabytes of memory, so a router with ~60 MB live held ~240 MB of heap, most
 * of it garbage, and kept the pages. `percent` 0 leaves V8's rule alone.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
}
