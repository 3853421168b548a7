import type { NatsConnection } from "@nats-io/transport-node";

/** Whether the connection is usable now, as its status events last said. */
export type ConnectionPhase = "connected" | "reconnecting" | "closed";

/**
 * Follows a connection's status events (`disconnect`, `reconnecting`, `reconnect`, `close`)
 * so callers can ask, without a round trip, whether a publish would reach a server now.
 *
 * Why it matters: while reconnecting, nats.js does not refuse a publish, it buffers it and
 * sends it after the reconnect. A caller that must tell a client "not stored" checks here
 * first and, while the connection is down, hands nothing to the library.
 */
export class ConnectionState {
  private current: ConnectionPhase;
  private readonly listeners = new Set<(phase: ConnectionPhase) => void>();

  constructor(private readonly nc: NatsConnection) {
    this.current = nc.isClosed() ? "closed" : "connected";
    // The status iterator ends when the connection closes; a failure in it must not escape.
    this.follow(nc).catch(() => this.set("closed"));
  }

  /**
   * Whether a server answers now: connected, and a ping answered within `timeoutMs`. A stalled
   * server (paused, or a network that drops without a reset) leaves the connection looking
   * connected until nats.js's own pings give up, minutes later; a readiness probe asks for a
   * round trip instead, so a load balancer stops sending traffic within a probe period.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    if (!this.connected) return false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.nc.rtt().then(() => this.connected), timedOut]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  get phase(): ConnectionPhase {
    return this.current;
  }

  get connected(): boolean {
    return this.current === "connected";
  }

  /** Calls `listener` on every change of phase; returns the function that stops it. */
  onChange(listener: (phase: ConnectionPhase) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async follow(nc: NatsConnection): Promise<void> {
    const closed = nc.closed().then(() => this.set("closed"));
    for await (const status of nc.status()) {
      if (
        status.type === "disconnect" ||
        status.type === "reconnecting" ||
        status.type === "staleConnection"
      ) {
        this.set("reconnecting");
      } else if (status.type === "reconnect") {
        this.set("connected");
      } else if (status.type === "close") {
        this.set("closed");
      }
    }
    await closed;
  }

  private set(phase: ConnectionPhase): void {
    if (this.current === phase || this.current === "closed") return;
    this.current = phase;
    for (const listener of this.listeners) listener(phase);
  }
}
