import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/**
 * V8's young generation (two semi-spaces) grows by doubling while many objects survive its
 * collections, up to 32 MB on a 64-bit machine, and keeps its pages: a router busy for a few
 * seconds holds all of it for good (docs/architecture.md, "Router memory"). Its maximum can be
 * set only before V8 creates the heap, by a node flag; the growth factor is read at every
 * growth. So the CLI holds growth from its first line, and the router lets it grow to a cap,
 * choosing the factor after each collection.
 */
const growthFactor = (factor: number) => `--semi-space-growth-factor=${factor}`;
/** V8's own factor. */
const V8_FACTOR = 2;

let watcher: PerformanceObserver | undefined;

/**
 * Stops the young generation from growing. For the CLI's entry to call before it loads the
 * router's modules: loading them is what grows it first (to the full 32 MB before a request).
 */
export function holdYoungGeneration(): void {
  setFlagsFromString(growthFactor(1));
}

/** The young generation's size (both semi-spaces) in bytes, as V8 reports it. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;
}

/**
 * Lets the young generation grow up to `capMb` MB (both semi-spaces), then holds it; if V8
 * shrinks it later (a memory-reducing collection), it may grow back to the cap. `capMb` 0
 * restores V8's own rule. A later call replaces the cap. The cap cannot shrink what has
 * already grown: hold first ({@link holdYoungGeneration}).
 */
export function capYoungGeneration(capMb: number): void {
  watcher?.disconnect();
  watcher = undefined;
  if (capMb <= 0) {
    setFlagsFromString(growthFactor(V8_FACTOR));
    return;
  }
  const capBytes = capMb * 2 ** 20;
  let factor: number | undefined;
  const follow = () => {
    // Growth happens only inside a collection, and this runs after each one. A factor that
    // lands the next growth on the cap leaves no second growth in between to pass it: that
    // would need as many bytes to survive again as the young generation holds.
    const current = youngGenerationBytes();
    const next = current > 0 ? Math.max(1, Math.floor(capBytes / current)) : 1;
    if (next === factor) return;
    factor = next;
    setFlagsFromString(growthFactor(next));
  };
  follow();
  watcher = new PerformanceObserver(follow);
  watcher.observe({ entryTypes: ["gc"] });
}
