import type { BeamlineEvent } from "../src/events/index.js";

/** One event waiting in a window, with its stream sequence. */
export interface WindowedEvent {
  event: BeamlineEvent;
  sequence: number;
}

/** Folds one key's events, in stream order, and stores the result once. */
export type FoldKey = (key: string, events: readonly WindowedEvent[]) => Promise<void>;

export interface FoldWindowOptions {
  /** How long the first event of a window waits for others before the window is written, ms. */
  windowMs: number;
  foldKey: FoldKey;
  /**
   * Whether the window may be written: false while an unacknowledged event below `lowest` is
   * held elsewhere (by a crashed instance, until the server redelivers it here). The window
   * then waits and asks again; it is written once the missing events have joined it.
   */
  inOrder?: (lowest: number) => Promise<boolean>;
  /** Told about a failed write before it is tried again (the window is never dropped). */
  onRetry?: (error: unknown, tries: number) => void;
  /** Delay before the n-th retry of a failed window, ms (default: 100 ms doubling to 5 s). */
  retryDelayMs?: (tries: number) => number;
}

/** Collects events into windows; see {@link createFoldWindow}. */
export interface FoldWindow {
  /**
   * Resolves once a KV write covers the event: only then may its message be acknowledged.
   * `key` is undefined for an event that changes no record; it still waits for its window,
   * so messages are acknowledged in stream order.
   */
  add(key: string | undefined, event: BeamlineEvent, sequence: number): Promise<void>;
}

interface Pending {
  /** Undefined for an event that changes no record: it only keeps its place in the ack order. */
  key: string | undefined;
  event: BeamlineEvent;
  waiters: Array<() => void>;
}

/**
 * Batches an ordered KV fold (provider health, spend): events are held for one window, then
 * folded per key in stream sequence order and written with one KV write per changed key. Windows are written one after
 * the other, never two at once, so a key's events are folded in the order they were delivered.
 * A window whose write fails is retried in place (never handed back to the consumer, which
 * would let later events overtake it) until it succeeds; its messages stay unacknowledged,
 * kept alive by the stage runner's heartbeats, and a crash redelivers them.
 */
export function createFoldWindow(options: FoldWindowOptions): FoldWindow {
  const retryDelayMs = options.retryDelayMs ?? ((tries: number) => Math.min(5_000, 100 * 2 ** (tries - 1)));
  let pending = new Map<number, Pending>();
  let timer: NodeJS.Timeout | undefined;
  let writing = false;

  const schedule = () => {
    if (timer === undefined && !writing && pending.size > 0) timer = setTimeout(flush, options.windowMs);
  };

  const writeWindow = async (window: Map<number, Pending>): Promise<void> => {
    const byKey = new Map<string, WindowedEvent[]>();
    for (const [sequence, { key, event }] of [...window].sort(([a], [b]) => a - b)) {
      if (key === undefined) continue;
      const events = byKey.get(key) ?? [];
      events.push({ event, sequence });
      byKey.set(key, events);
    }
    for (let tries = 1; ; tries++) {
      try {
        // Keys are independent records: their writes go out together.
        await Promise.all([...byKey].map(([key, events]) => options.foldKey(key, events)));
        return;
      } catch (error) {
        // A key written before the failure folds to a no-op on retry (its sequences are at or
        // below the record's lastSequence), so retrying the whole window is exact.
        options.onRetry?.(error, tries);
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(tries)));
      }
    }
  };

  async function flush(): Promise<void> {
    timer = undefined;
    writing = true;
    let window: Map<number, Pending>;
    try {
      const lowest = Math.min(...pending.keys());
      if (options.inOrder && !(await options.inOrder(lowest).catch(() => false))) {
        // Keep gathering: the missing events, once redelivered, join this window.
        writing = false;
        timer = setTimeout(flush, options.windowMs);
        return;
      }
      window = pending;
      pending = new Map();
      await writeWindow(window);
    } finally {
      writing = false;
    }
    for (const { waiters } of window.values()) for (const done of waiters) done();
    schedule();
  }

  return {
    add(key, event, sequence) {
      return new Promise<void>((resolve) => {
        // A redelivery of a message still in the window joins it instead of folding twice.
        const known = pending.get(sequence);
        if (known) known.waiters.push(resolve);
        else pending.set(sequence, { key, event, waiters: [resolve] });
        schedule();
      });
    },
  };
}
