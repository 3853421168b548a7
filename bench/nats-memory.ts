/**
 * nats-server's own view of its memory, for explaining an RSS figure: the Go runtime's
 * MemStats and the in-use heap by allocation site, from the server's profiling endpoint
 * (`nats-server --profile <port>`, the legacy text heap profile at `?debug=1`).
 */

/** Go heap figures in MB (2^20 bytes). */
export interface GoMemory {
  /** Bytes of live and not yet collected objects. */
  heapAllocMb: number;
  /** Spans in use (≥ heapAlloc; the difference is fragmentation). */
  heapInuseMb: number;
  /** Spans idle and already returned to the OS. */
  heapReleasedMb: number;
  /** Everything the runtime got from the OS. */
  sysMb: number;
  /** Heap size at which the next GC starts (GOGC / GOMEMLIMIT). */
  nextGcMb: number;
}

/** In-use heap attributed to the first nats-server function on each sampled stack. */
export interface HeapSite {
  fn: string;
  inuseMb: number;
}

const MB = 2 ** 20;

/** With `collect`, the server runs a GC first, so HeapAlloc is the live heap. */
async function heapProfile(profileUrl: string, collect: boolean): Promise<string | undefined> {
  try {
    const query = collect ? "debug=1&gc=1" : "debug=1";
    const response = await fetch(`${profileUrl}/debug/pprof/heap?${query}`, {
      signal: AbortSignal.timeout(10_000),
    });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Parses the `# runtime.MemStats` trailer of a text heap profile. */
export function parseGoMemory(profile: string): GoMemory | undefined {
  const stat = (name: string) => {
    // The trailer lists some fields twice (before and after a refresh); the last is current.
    const all = [...profile.matchAll(new RegExp(`^# ${name} = (\\d+)$`, "gm"))];
    const last = all.at(-1);
    return last ? Number(last[1]) / MB : undefined;
  };
  const heapAllocMb = stat("HeapAlloc");
  if (heapAllocMb === undefined) return undefined;
  return {
    heapAllocMb,
    heapInuseMb: stat("HeapInuse") ?? 0,
    heapReleasedMb: stat("HeapReleased") ?? 0,
    sysMb: stat("Sys") ?? 0,
    nextGcMb: stat("NextGC") ?? 0,
  };
}

/**
 * Sums the in-use bytes of each sampled stack under its innermost nats-server frame (the
 * code that asked for the memory), largest first. The text profile holds raw samples (one
 * per `rate` bytes on average), so small objects are scaled up as pprof does.
 */
export function parseHeapSites(profile: string, limit = 12): HeapSite[] {
  const sums = new Map<string, number>();
  // The header says "@ heap/<2 × MemProfileRate>".
  const rate = Number(/@ heap\/(\d+)/.exec(profile)?.[1] ?? 1_048_576) / 2;
  const records = profile.split(/\n(?=\d+: \d+ \[)/);
  for (const record of records) {
    const head = /^(\d+): (\d+) \[/.exec(record);
    if (!head) continue;
    const objects = Number(head[1]);
    const sampled = Number(head[2]);
    if (objects === 0 || sampled === 0) continue;
    const inuse = sampled / (1 - Math.exp(-sampled / objects / rate));
    const frames = [...record.matchAll(/^#\t0x[0-9a-f]+\t(\S+)\+0x/gm)].map((m) => m[1]!);
    const ours = frames.filter((fn) => fn.includes("nats-io/"));
    // A pool's New function (init.funcN) says nothing alone: name who took from the pool.
    const chosen = /\.init\.func\d+$/.test(ours[0] ?? "") ? ours.slice(0, 3) : ours.slice(0, 1);
    const site = chosen.length > 0 ? chosen.join(" ← ") : (frames[0] ?? "unknown");
    const short = site.replaceAll(/github\.com\/nats-io\/nats-server(\/v2)?\/server\./g, "");
    sums.set(short, (sums.get(short) ?? 0) + inuse);
  }
  return [...sums]
    .map(([fn, bytes]) => ({ fn, inuseMb: bytes / MB }))
    .sort((a, b) => b.inuseMb - a.inuseMb)
    .slice(0, limit);
}

/**
 * Reads the Go memory figures after a forced GC (so `heapAllocMb` is live data, the figure
 * that shows growth through GC noise); undefined when the endpoint cannot be read.
 */
export async function readGoMemory(profileUrl: string): Promise<GoMemory | undefined> {
  const profile = await heapProfile(profileUrl, true);
  return profile === undefined ? undefined : parseGoMemory(profile);
}

/** Reads the in-use heap by allocation site. */
export async function readHeapSites(profileUrl: string, limit = 12): Promise<HeapSite[]> {
  const profile = await heapProfile(profileUrl, true);
  return profile === undefined ? [] : parseHeapSites(profile, limit);
}
