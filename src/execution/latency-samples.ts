/** Latencies kept per provider/model: enough for a stable 95th/99th percentile, bounded memory. */
const SAMPLES_PER_TARGET = 256;
/** Provider/model pairs tracked; the least recently fed is forgotten beyond this. */
const MAX_TARGETS = 512;

/**
 * This instance's recent times to first token per provider/model and call kind (streamed or
 * plain, whose first token is the whole answer), in milliseconds: the source of a hedge's
 * `afterPercentile` deadline. A bounded ring per target; in memory only, because the deadline
 * it yields is recorded on the attempt, so nothing downstream ever reads these.
 */
export class LatencySamples {
  readonly #rings = new Map<string, { values: number[]; next: number }>();

  /** Adds one observed latency (ms) of a successful call. */
  observe(provider: string, model: string, streamed: boolean, latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    const key = keyOf(provider, model, streamed);
    let ring = this.#rings.get(key);
    if (ring) this.#rings.delete(key);
    else ring = { values: [], next: 0 };
    this.#rings.set(key, ring); // re-inserted: the map's order is least recently fed first
    if (ring.values.length < SAMPLES_PER_TARGET) ring.values.push(latencyMs);
    else ring.values[ring.next] = latencyMs;
    ring.next = (ring.next + 1) % SAMPLES_PER_TARGET;
    if (this.#rings.size > MAX_TARGETS) this.#rings.delete(this.#rings.keys().next().value!);
  }

  /** The latencies kept for a target, oldest order not guaranteed. */
  samples(provider: string, model: string, streamed: boolean): readonly number[] {
    return this.#rings.get(keyOf(provider, model, streamed))?.values ?? [];
  }
}

function keyOf(provider: string, model: string, streamed: boolean): string {
  return `${provider}\u0000${model}\u0000${streamed ? "s" : "p"}`;
}
