/**
 * The router's own view of its memory and garbage collection, read from its Prometheus
 * metrics listener (prom-client's default metrics, prefixed `beamline_`), which is apart from
 * the gateway's port. Explains an RSS figure:
 * how much of it is V8 heap, how much is live, and what GC cost during a run.
 */
export interface RouterMemory {
  heapTotalBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  /** Seconds spent in GC since the router started, by kind (minor, major, incremental, weakcb). */
  gcSeconds: Record<string, number>;
}

const METRIC =
  /^beamline_(nodejs_heap_size_total_bytes|nodejs_heap_size_used_bytes|nodejs_external_memory_bytes|nodejs_gc_duration_seconds_sum)(?:\{([^}]*)\})? ([0-9.e+-]+)$/;

/** Scrapes `/metrics` of the router's metrics listener; undefined when it cannot be read. */
export async function readRouterMemory(metricsUrl: string): Promise<RouterMemory | undefined> {
  try {
    const response = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    const memory: RouterMemory = { heapTotalBytes: 0, heapUsedBytes: 0, externalBytes: 0, gcSeconds: {} };
    for (const line of (await response.text()).split("\n")) {
      const match = METRIC.exec(line);
      if (!match) continue;
      const value = Number(match[3]);
      if (match[1] === "nodejs_heap_size_total_bytes") memory.heapTotalBytes = value;
      else if (match[1] === "nodejs_heap_size_used_bytes") memory.heapUsedBytes = value;
      else if (match[1] === "nodejs_external_memory_bytes") memory.externalBytes = value;
      else {
        const kind = /kind="([^"]+)"/.exec(match[2] ?? "")?.[1] ?? "all";
        memory.gcSeconds[kind] = (memory.gcSeconds[kind] ?? 0) + value;
      }
    }
    return memory;
  } catch {
    return undefined;
  }
}

/** GC seconds per kind between two readings. */
export function gcDelta(
  before: RouterMemory | undefined,
  after: RouterMemory | undefined,
): Record<string, number> {
  const delta: Record<string, number> = {};
  if (!before || !after) return delta;
  for (const [kind, seconds] of Object.entries(after.gcSeconds))
    delta[kind] = seconds - (before.gcSeconds[kind] ?? 0);
  return delta;
}

/** nats-server's message and byte counters (`/varz`), in and out across all clients. */
export interface NatsTraffic {
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
}

export async function readNatsTraffic(monitorUrl: string): Promise<NatsTraffic | undefined> {
  try {
    const response = await fetch(`${monitorUrl}/varz`, { signal: AbortSignal.timeout(5_000) });
    const varz = (await response.json()) as {
      in_msgs: number;
      out_msgs: number;
      in_bytes: number;
      out_bytes: number;
    };
    return { inMsgs: varz.in_msgs, outMsgs: varz.out_msgs, inBytes: varz.in_bytes, outBytes: varz.out_bytes };
  } catch {
    return undefined;
  }
}

/** Traffic between two readings divided by the calls made in between. */
export function trafficPerCall(
  before: NatsTraffic | undefined,
  after: NatsTraffic | undefined,
  calls: number,
): NatsTraffic | undefined {
  if (!before || !after || calls === 0) return undefined;
  return {
    inMsgs: (after.inMsgs - before.inMsgs) / calls,
    outMsgs: (after.outMsgs - before.outMsgs) / calls,
    inBytes: (after.inBytes - before.inBytes) / calls,
    outBytes: (after.outBytes - before.outBytes) / calls,
  };
}
