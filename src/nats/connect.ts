import { type Authenticator, connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import { isSupportedServerVersion, MIN_NATS_SERVER_VERSION } from "./version.js";

export interface ConnectOptions {
  servers: string | string[];
  /** Connection name shown in the server's monitoring (`beamline-<role>-<instance>`). */
  name: string;
  /** How to authenticate (creds, user/password, token); none for a server without auth. */
  authenticator?: Authenticator;
  /**
   * Prefix of this connection's inboxes, where replies and pub-acks arrive. A credential that
   * may subscribe only to its own prefix (docs/security.md) needs it; default `_INBOX`.
   */
  inboxPrefix?: string;
  /**
   * How long to keep trying when the first connection finds no server (refused, unreachable,
   * timed out), ms; default 0: fail at once. A deployment that starts NATS and Beamline
   * together (docker compose) sets it, so Beamline waits for NATS instead of needing a probe.
   * Refused credentials and unsupported servers fail at once whatever this is.
   */
  firstConnectWaitMs?: number;
  /** Told about each failed first attempt while waiting (for a log line); `waitedMs` so far. */
  onWaiting?: (error: Error, waitedMs: number) => void;
}

/** Milliseconds between the client's pings to its server. */
const PING_INTERVAL_MS = 2_000;
/**
 * Unanswered pings after which the connection counts as stale and reconnects elsewhere: about
 * 12 s of silence. Two (4-6 s) made a saturated router drop healthy connections: with 1,000
 * streams in flight its pongs waited behind the inbound live chunks, and 16 streams were cut
 * by the reconnect (bench scenario 4).
 */
const MAX_PINGS_OUT = 5;

/** Longest wait for a server's greeting on one connection attempt, first or reconnect, ms. */
const CONNECT_TIMEOUT_MS = 2_000;

/** Pause between two first-connection attempts, ms. */
const FIRST_CONNECT_RETRY_MS = 500;

/**
 * Connects to NATS and refuses a server older than the supported floor, with a message
 * that says what to install. Reconnects forever: a stage worker outlives server restarts.
 */
export async function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  const startedMs = Date.now();
  for (;;) {
    try {
      return await connectOnce(options);
    } catch (error) {
      const waitedMs = Date.now() - startedMs;
      const retryable =
        error instanceof BeamlineError && error.code === "BL_NATS_UNAVAILABLE" && !isServerRefusal(error);
      if (!retryable || waitedMs + FIRST_CONNECT_RETRY_MS > (options.firstConnectWaitMs ?? 0)) throw error;
      options.onWaiting?.(error, waitedMs);
      await new Promise((resolve) => setTimeout(resolve, FIRST_CONNECT_RETRY_MS));
    }
  }
}

/** A server that answered and said no (JetStream off): waiting will not change it. */
function isServerRefusal(error: BeamlineError): boolean {
  return /JetStream disabled/.test(error.message);
}

async function connectOnce(options: ConnectOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.name,
      ...(options.authenticator ? { authenticator: options.authenticator } : {}),
      ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
      // Skipping per-request stack capture roughly doubles client throughput.
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // A stalled server (paused, or a network that drops without a reset) keeps the socket
      // open, so only unanswered pings reveal it: at nats.js's default of 2 min × 2 a process
      // stayed on a stalled cluster node for minutes. At 2 s × 2 it moves to another node
      // within 4-6 s, for one ping per 2 s per connection.
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      // A reconnect may pick the stalled node again; its socket accepts and then says nothing,
      // so each try is bounded (nats.js's default is 20 s, which held a process 26 s in all).
      timeout: CONNECT_TIMEOUT_MS,
    });
  } catch (error) {
    if (/authorization violation|authentication|user authentication/i.test((error as Error).message ?? "")) {
      throw new BeamlineError(
        "BL_NATS_AUTH",
        `NATS at ${String(options.servers)} refused this process's credentials: set NATS_CREDS, NATS_USER/NATS_PASSWORD or NATS_TOKEN (docs/security.md)`,
        { cause: error },
      );
    }
    throw new BeamlineError(
      "BL_NATS_UNAVAILABLE",
      `cannot connect to NATS at ${String(options.servers)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  // Fewer socket writes per request (docs/architecture.md, "One socket write per loop turn").
  coalesceWrites(nc);
  const version = nc.info?.version ?? "0.0.0";
  if (!isSupportedServerVersion(version)) {
    await nc.close();
    throw new BeamlineError(
      "BL_NATS_VERSION_UNSUPPORTED",
      `nats-server ${version} is too old: Beamline needs ${MIN_NATS_SERVER_VERSION} or newer ` +
        "(2.12.7-2.12.9 lose KV state on restart; 2.10 drops newer stream settings). " +
        "Install a current nats-server (e.g. `bash scripts/nats-server.sh` in a Beamline checkout).",
    );
  }
  if (nc.info?.jetstream !== true) {
    await nc.close();
    throw new BeamlineError(
      "BL_NATS_UNAVAILABLE",
      "the NATS server has JetStream disabled: start nats-server with -js (or `jetstream {}` in its config)",
    );
  }
  return nc;
}

/**
 * A fresh inbox subject under the connection's own inbox prefix (`inboxPrefix` of
 * {@link connectNats}): a credential may be allowed to subscribe only there.
 */
export function inboxFor(nc: NatsConnection): string {
  const prefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
  return createInbox(prefix || undefined);
}

/** The part of nats.js's protocol handler that {@link coalesceWrites} relies on (not public API). */
interface OutboundQueue {
  outbound: { size(): number };
  pendingLimit: number;
  flushPending(): void;
}

function isOutboundQueue(value: unknown): value is OutboundQueue {
  const candidate = value as Partial<OutboundQueue> | undefined;
  return (
    typeof candidate?.flushPending === "function" &&
    typeof candidate.pendingLimit === "number" &&
    typeof candidate.outbound?.size === "function"
  );
}

/**
 * Sends what the connection queued during one turn of the event loop as one socket write.
 * nats.js writes its queue on the next microtask, so a handler that publishes, awaits
 * nothing on the network and then acks makes two writes (and the server two reads). Deferring
 * the write to `setImmediate` lets every command queued while the current I/O callbacks and
 * their microtasks run share a write; order is unchanged, so an ack still leaves after the
 * write it covers. A queue past nats.js's own limit is still written at once. Returns false
 * (and changes nothing) when the client's internals are not what this expects.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol = (nc as { protocol?: unknown }).protocol;
  if (!isOutboundQueue(protocol)) return false;
  const writeNow = protocol.flushPending.bind(protocol);
  let writeQueued = false;
  const writeQueuedNow = () => {
    writeQueued = false;
    writeNow();
  };
  protocol.flushPending = () => {
    if (protocol.outbound.size() >= protocol.pendingLimit) {
      writeNow();
    } else if (!writeQueued) {
      writeQueued = true;
      setImmediate(writeQueuedNow);
    }
  };
  return true;
}
