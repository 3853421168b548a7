import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** One line of a CPU profile summary: self time of a function or of a whole module group. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the profile's busy time (idle excluded), 0..1. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  functions: ProfileEntry[];
  /** Self time grouped by package (`fastify`, `@nats-io/…`), Beamline folder, or Node internals. */
  groups: ProfileEntry[];
  /**
   * Beamline's own functions with the time of everything they call synchronously (a sample
   * counts once per function on its stack). Async continuations start new stacks, so this is
   * the cost of each synchronous step, not of a whole awaited operation.
   */
  beamlineInclusive: ProfileEntry[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  /** Monotonic clock, µs: the same clock as `process.hrtime` in every process of the machine. */
  startTime: number;
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the process a script URL belongs to, for the grouped view. */
function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const own = /\/dist\/(src\/[^/]+|streams|projections|replay)\//.exec(url);
  if (own) return `beamline ${own[1]}`;
  return url;
}

function shortUrl(url: string): string {
  const pkg = url.lastIndexOf("node_modules/");
  if (pkg >= 0) return url.slice(pkg + "node_modules/".length);
  const dist = url.lastIndexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url;
}

/** A span of the monotonic clock, µs (`process.hrtime.bigint() / 1000n`). */
export interface ClockWindow {
  fromUs: number;
  toUs: number;
}

/**
 * Self time per function and per group, from a `.cpuprofile` written by `node --cpu-prof`;
 * with `windows` (sorted, not overlapping), only the samples taken inside them, e.g. during
 * the slowest calls of a benchmark.
 */
export function summariseProfile(
  profile: CpuProfile,
  file: string,
  top = 25,
  windows?: ClockWindow[],
): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const nameOf = (frame: CpuProfileNode["callFrame"]) =>
    frame.url
      ? `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      : frame.functionName;
  const inclusive = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byGroup = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  let sampledAtUs = profile.startTime;
  let window = 0;
  profile.samples.forEach((id, index) => {
    const deltaUs = profile.timeDeltas[index] ?? 0;
    sampledAtUs += deltaUs;
    if (windows) {
      while (window < windows.length && windows[window]!.toUs < sampledAtUs) window++;
      if (window >= windows.length || windows[window]!.fromUs > sampledAtUs) return;
    }
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    totalUs += deltaUs;
    if (frame.functionName === "(idle)") {
      idleUs += deltaUs;
      return;
    }
    const name = nameOf(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + deltaUs);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const caller = nodes.get(at)?.callFrame;
      if (caller && /\/dist\/(src|streams|projections)\//.test(caller.url)) onStack.add(nameOf(caller));
    }
    for (const own of onStack) inclusive.set(own, (inclusive.get(own) ?? 0) + deltaUs);
    const group = groupOf(frame.url, frame.functionName);
    byGroup.set(group, (byGroup.get(group) ?? 0) + deltaUs);
  });
  const busyUs = totalUs - idleUs;
  const rank = (map: Map<string, number>, limit: number): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return {
    file,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: rank(byFunction, top),
    groups: rank(byGroup, top),
    beamlineInclusive: rank(inclusive, top),
  };
}

/** The newest `.cpuprofile` in a folder and its path, if there is one. */
export async function readLatestProfile(
  dir: string,
): Promise<{ profile: CpuProfile; path: string } | undefined> {
  const files = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort();
  const latest = files.at(-1);
  if (!latest) return undefined;
  const path = join(dir, latest);
  return { profile: JSON.parse(await readFile(path, "utf8")) as CpuProfile, path };
}

/** Summarises the newest `.cpuprofile` in a folder, if there is one. */
export async function summariseLatestProfile(dir: string): Promise<ProfileSummary | undefined> {
  const latest = await readLatestProfile(dir);
  return latest && summariseProfile(latest.profile, latest.path);
}

/** The summary as indented text lines. */
export function formatProfile(summary: ProfileSummary, top = 20): string {
  const line = (entry: ProfileEntry) =>
    `  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(0).padStart(7)} ms  ${entry.name}`;
  return [
    `Router CPU profile ${summary.file}: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle`,
    "Self time by group:",
    ...summary.groups.slice(0, 12).map(line),
    "Top functions by self time:",
    ...summary.functions.slice(0, top).map(line),
    "Beamline functions, synchronous callees included:",
    ...summary.beamlineInclusive.slice(0, 15).map(line),
  ].join("\n");
}
