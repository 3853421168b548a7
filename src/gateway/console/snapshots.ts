import type { EventStore } from "../../nats/index.js";
import type { Logger } from "../../observability/index.js";
import type { TenancyAdmin } from "../../tenancy/index.js";
import { type RequestFeed, startRequestFeed } from "./request-feed.js";
import type { RequestRow, WindowSummary } from "./request-rows.js";
import { readSystemState, type SystemState } from "./system-state.js";

/** What the console receives once a second over its event stream. */
export interface ConsoleSnapshot extends SystemState {
  /** When the snapshot was taken, ISO-8601. */
  at: string;
  /** Requests that ended in the last minute: rate, failures, latency percentiles. */
  window: WindowSummary;
  /** The most recent requests, newest first. */
  recent: RequestRow[];
  /** When the system part (providers, lag, spend, tenants) was read, ISO-8601. */
  systemAt: string | null;
}

export interface ConsoleSourceOptions {
  store: EventStore;
  log: Logger;
  tenancy: TenancyAdmin;
  now: () => Date;
  /** Rows shown in the recent-requests list. */
  recentLimit?: number;
  /** The system part is re-read at most this often, ms (KV and JetStream reads cost a few ms). */
  systemRefreshMs?: number;
}

const WINDOW_SECONDS = 60;
/** The feed starts this far back, so a fresh console shows the last minutes at once. */
const LOOKBACK_MS = 15 * 60_000;

/**
 * The data behind the console, started on the first viewer and kept until the gateway
 * closes: the request feed (one ordered consumer) and a cached read of the system state.
 * Snapshots for any number of viewers cost one feed and one system read per refresh period.
 */
export class ConsoleSource {
  readonly #options: ConsoleSourceOptions;
  #feed: Promise<RequestFeed> | undefined;
  #system: { state: SystemState; at: Date } | undefined;
  #reading: Promise<void> | undefined;

  constructor(options: ConsoleSourceOptions) {
    this.#options = options;
  }

  /** The current snapshot; the first call starts the feed and waits for the first system read. */
  async snapshot(): Promise<ConsoleSnapshot> {
    const { now, recentLimit = 50 } = this.#options;
    const feed = await this.#startedFeed();
    await this.#refreshSystem();
    const system = this.#system?.state ?? { providers: [], consumers: [], spend: [], tenants: [] };
    const at = now();
    return {
      at: at.toISOString(),
      window: feed.requests.summary(at.getTime(), WINDOW_SECONDS),
      recent: feed.requests.list(recentLimit),
      ...system,
      systemAt: this.#system?.at.toISOString() ?? null,
    };
  }

  /** Stops the feed, if it was started. */
  async close(): Promise<void> {
    const feed = this.#feed;
    this.#feed = undefined;
    if (feed) await (await feed.catch(() => undefined))?.stop();
  }

  #startedFeed(): Promise<RequestFeed> {
    this.#feed ??= startRequestFeed({
      store: this.#options.store,
      log: this.#options.log,
      now: this.#options.now,
      lookbackMs: LOOKBACK_MS,
      capacity: 500,
    }).catch((error: unknown) => {
      // A failed start (NATS down) is retried by the next snapshot, not cached forever.
      this.#feed = undefined;
      throw error;
    });
    return this.#feed;
  }

  /** Re-reads the system state when it is older than the refresh period; one read at a time. */
  async #refreshSystem(): Promise<void> {
    const { now, systemRefreshMs = 2_000 } = this.#options;
    const fresh = this.#system && now().getTime() - this.#system.at.getTime() < systemRefreshMs;
    if (fresh) return;
    this.#reading ??= (async () => {
      try {
        const at = now();
        this.#system = {
          state: await readSystemState(this.#options.store.nc, this.#options.tenancy, at),
          at,
        };
      } catch (error) {
        // The last good state stays on screen (its `systemAt` shows its age).
        this.#options.log.warn({ err: error }, "console could not read the system state");
      } finally {
        this.#reading = undefined;
      }
    })();
    // The first snapshot waits for a read; later ones show the cached state while it runs.
    if (!this.#system) await this.#reading;
  }
}
