import { BeamlineError } from "../errors/index.js";
import type { Clock } from "../events/index.js";

/** Limits of one provider/model pool. */
export interface PoolLimits {
  /** Calls in flight at once from this process. */
  maxConcurrent: number;
  /** Callers allowed to wait for a slot; one more is refused at once. */
  maxQueued: number;
  /** Longest wait for a slot before the caller is refused. */
  queueTimeoutMs: number;
}

/** Gives back a slot taken with {@link ConcurrencyPools.acquire}. Idempotent. */
export type ReleaseSlot = () => void;

interface Waiter {
  grant: () => void;
}

interface Pool {
  readonly limits: PoolLimits;
  inFlight: number;
  readonly queue: Waiter[];
}

/**
 * Per provider/model concurrency pools of one process: a bounded number of calls in flight,
 * a bounded FIFO of waiters, and a wait timeout. A refused caller gets
 * `BL_PROVIDER_BACKPRESSURE`, which the executor treats as a reason to try the next candidate
 * rather than piling more calls onto a saturated provider.
 */
export class ConcurrencyPools {
  readonly #pools = new Map<string, Pool>();

  constructor(
    private readonly limitsFor: (provider: string, model: string) => PoolLimits,
    private readonly clock: Clock,
  ) {}

  /** Takes a slot, waiting in line if needed; rejects with `BL_PROVIDER_BACKPRESSURE` or `signal.reason`. */
  acquire(provider: string, model: string, signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const pool = this.#pool(provider, model);
    if (pool.inFlight < pool.limits.maxConcurrent) {
      pool.inFlight++;
      return Promise.resolve(this.#releaser(pool));
    }
    if (pool.queue.length >= pool.limits.maxQueued) {
      return Promise.reject(
        backpressure(provider, model, `its wait queue is full (${pool.limits.maxQueued} waiting)`),
      );
    }
    return new Promise((resolve, reject) => {
      const leave = () => {
        const index = pool.queue.indexOf(waiter);
        if (index >= 0) pool.queue.splice(index, 1);
        cancelTimer();
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(this.#releaser(pool));
        },
      };
      const onAbort = () => {
        leave();
        reject(signal?.reason);
      };
      const cancelTimer = this.clock.setTimeout(() => {
        leave();
        reject(backpressure(provider, model, `no slot freed within ${pool.limits.queueTimeoutMs} ms`));
      }, pool.limits.queueTimeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      pool.queue.push(waiter);
    });
  }

  /** Calls in flight and waiting for one provider/model (metrics, tests). */
  usage(provider: string, model: string): { inFlight: number; queued: number } {
    const pool = this.#pools.get(poolKey(provider, model));
    return { inFlight: pool?.inFlight ?? 0, queued: pool?.queue.length ?? 0 };
  }

  #pool(provider: string, model: string): Pool {
    const key = poolKey(provider, model);
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = { limits: this.limitsFor(provider, model), inFlight: 0, queue: [] };
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #releaser(pool: Pool): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the first waiter, so a newcomer cannot jump the queue.
      const next = pool.queue[0];
      if (next) next.grant();
      else pool.inFlight--;
    };
  }
}

function poolKey(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}

/**
 * What a refused caller is told to wait: a slot frees as soon as one call ends, which no
 * cooldown bounds, so one second — short, yet past the burst that filled the queue.
 */
export const BACKPRESSURE_RETRY_AFTER_MS = 1_000;

function backpressure(provider: string, model: string, why: string): BeamlineError {
  return new BeamlineError(
    "BL_PROVIDER_BACKPRESSURE",
    `Too many calls to ${provider}/${model} from this instance: ${why}; retry later or raise its concurrency limit`,
    { retryAfterMs: BACKPRESSURE_RETRY_AFTER_MS },
  );
}
