import { availableParallelism, totalmem } from "node:os";
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

/** The young generation's cap that `auto` chooses for a process held to one core, in MB. */
const ONE_CORE_YOUNG_GENERATION_MB = 16;

/**
 * The cap (MB, both semi-spaces; 0 = V8's own rule) for the `youngGenerationMb` setting: a
 * number as given; `auto` caps at {@link ONE_CORE_YOUNG_GENERATION_MB} when the process may run
 * on one core only (`os.availableParallelism()`, which follows the CPU affinity), and keeps
 * V8's rule otherwise. Measured with `npm run bench:compare` at 64 requests in flight: the
 * 16 MB cap held the router's peak RSS 14.6-15.6 MB lower in every case; its CPU per request
 * was 0.997 and 1.009 of V8's rule on one core, 1.11 on two (docs/architecture.md, "Router
 * memory").
 */
export function youngGenerationCapMb(setting: number | "auto", cores = availableParallelism()): number {
  if (setting !== "auto") return setting;
  return cores <= 1 ? ONE_CORE_YOUNG_GENERATION_MB : 0;
}

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

/** What decides V8's young-generation maximum, as a process can read it. */
export interface YoungGenerationFacts {
  /** `process.constrainedMemory()`: the container's (cgroup's) limit; huge or 0 when none. */
  constrainedBytes: number | undefined;
  /** `os.totalmem()`. */
  totalBytes: number;
  /** `process.execArgv` and `NODE_OPTIONS`, where a `--max-semi-space-size` would be. */
  nodeFlags: readonly string[];
}

/**
 * Below this much memory Node sizes V8's young generation under the 32 MB the router is measured
 * and tuned with (measured with cgroup limits, Node 20: 3 GiB gives 32 MB; 2 GiB 16 MB; 1 GiB
 * 8 MB; 512 MiB and less 2 MB).
 */
const FULL_YOUNG_GENERATION_BYTES = 3 * 2 ** 30;

/**
 * Node sizes V8's heap from the memory the process may use, the container's limit included, and
 * with it the young generation's maximum, which code cannot raise. A router in a container of
 * 512 MiB is held to 2 MB and then used 1.40× the CPU per request under load (docs/operations.md,
 * "Router memory"). Returns the advice to log at start-up, or undefined when the maximum is V8's
 * full one or an operator chose it with `--max-semi-space-size`.
 */
export function youngGenerationAdvice(facts: YoungGenerationFacts): string | undefined {
  if (facts.nodeFlags.some((flag) => /^--max[-_]semi[-_]space[-_]size\b/.test(flag))) return undefined;
  // No limit reads as 0 (or undefined); a huge one is no limit either, so the smaller one counts.
  const limit = Math.min(facts.constrainedBytes || Number.POSITIVE_INFINITY, facts.totalBytes);
  if (limit >= FULL_YOUNG_GENERATION_BYTES) return undefined;
  const mib = Math.round(limit / 2 ** 20);
  return (
    `this process may use ${mib} MiB, so Node gave V8 a young generation smaller than 32 MB; ` +
    "under load that costs up to 1.4x the CPU per request. Start node with " +
    "--max-semi-space-size=16 (e.g. NODE_OPTIONS=--max-semi-space-size=16) to keep it, for up to 30 MB more memory " +
    '(docs/operations.md, "Router memory")'
  );
}

/** The facts of this process. */
export function youngGenerationFacts(): YoungGenerationFacts {
  return {
    constrainedBytes: process.constrainedMemory?.(),
    totalBytes: totalmem(),
    nodeFlags: [...process.execArgv, ...(process.env["NODE_OPTIONS"]?.split(/\s+/) ?? [])],
  };
}
