/**
 * What holds the router's memory: starts the router as `npm start` runs it (embedded
 * nats-server, an external mock), writes a V8 heap snapshot when idle and another after a
 * closed loop of plain requests, and prints the live heap grouped by constructor (self size
 * and count), idle against loaded. A snapshot collects garbage first, so it shows what is
 * retained, not the garbage awaiting collection. With `--during`, the second snapshot is taken
 * halfway through the loop instead, with its requests in flight: what a router holds at its peak.
 *
 *   node --import tsx bench/heap-snapshot.ts [--seconds 20] [--concurrency 128] [--top 30] [--during] [--keep]
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runClosedLoop } from "./load.js";
import { type Child, rssBytes, waitUntil } from "./processes.js";
import { ensureBuilt } from "./setup.js";
import { startMock, startRouter } from "./stack.js";
import { httpChatTarget } from "./targets.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    concurrency: { type: "string", default: "128" },
    top: { type: "string", default: "30" },
    during: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const MB = 2 ** 20;

/** Self size and count of the live objects sharing a constructor (or node type). */
interface Group {
  bytes: number;
  count: number;
}

/**
 * Groups a `.heapsnapshot`'s nodes by `type:name` for objects (the constructor), by type
 * alone for the rest (strings, code, arrays, hidden), summing self sizes.
 */
export function groupSnapshot(path: string): Map<string, Group> {
  const snapshot = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const groups = new Map<string, Group>();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const name = strings[nodes[i + nameAt]!]!;
    const key =
      type === "object" || type === "closure"
        ? `${type}:${name}`
        : type === "native"
          ? `native:${name.slice(0, 60)}`
          : type;
    const group = groups.get(key) ?? { bytes: 0, count: 0 };
    group.bytes += nodes[i + sizeAt]!;
    group.count += 1;
    groups.set(key, group);
  }
  return groups;
}

function total(groups: Map<string, Group>): number {
  let bytes = 0;
  for (const g of groups.values()) bytes += g.bytes;
  return bytes;
}

/** Sends the signal and waits for the new snapshot file to be complete (it parses). */
async function snapshot(router: Child, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot")));
  process.kill(router.pid, "SIGUSR2");
  return waitUntil(
    router,
    "the heap snapshot",
    () => {
      const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
      if (!file) return undefined;
      const text = readFileSync(join(dir, file), "utf8");
      return text.trimEnd().endsWith("]}") ? join(dir, file) : undefined;
    },
    120_000,
  );
}

async function main(): Promise<void> {
  ensureBuilt(repoRoot, { build: false });
  const workDir = await mkdtemp(join(tmpdir(), "beamline-heap-"));
  const started: Child[] = [];
  try {
    const mock = await startMock(repoRoot, undefined);
    started.push(mock.child);
    const devKey = `heap-${Date.now().toString(36)}-dev-key`;
    const router = await startRouter(
      {
        repoRoot,
        workDir,
        devKey,
        routerCpu: undefined,
        loadCpu: undefined,
        profileDir: undefined,
        routerNodeFlags: ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${workDir}`],
      },
      undefined,
      mock.url,
    );
    started.push(router.child);
    const rss = () => ((rssBytes(router.child.pid) ?? 0) / MB).toFixed(0);
    console.log(`router ready: RSS ${rss()} MB`);
    const idle = groupSnapshot(await snapshot(router.child, workDir));
    console.log(`idle: live heap ${(total(idle) / MB).toFixed(1)} MB, RSS ${rss()} MB`);

    const target = httpChatTarget({
      origin: router.url,
      path: "/v1/chat/completions",
      connections: Number(values.concurrency),
      headers: { authorization: `Bearer ${devKey}` },
    });
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(router.child.pid) ?? 0);
    }, 100);
    const running = runClosedLoop(
      target.call,
      Number(values.concurrency),
      Number(values.seconds) * 1000,
      200_000,
    );
    let loaded: Map<string, Group> | undefined;
    if (values.during) {
      await sleep((Number(values.seconds) * 1000) / 2);
      loaded = groupSnapshot(await snapshot(router.child, workDir));
      console.log(`during load: live heap ${(total(loaded) / MB).toFixed(1)} MB, RSS ${rss()} MB`);
    }
    const run = await running;
    clearInterval(sampler);
    await target.close();
    console.log(
      `closed loop: ${run.ok} ok, ${run.errors} errors, ${run.throughput.toFixed(0)} req/s; peak RSS ${(peak / MB).toFixed(0)} MB, RSS now ${rss()} MB`,
    );
    if (!loaded) {
      loaded = groupSnapshot(await snapshot(router.child, workDir));
      console.log(`after load: live heap ${(total(loaded) / MB).toFixed(1)} MB, RSS ${rss()} MB\n`);
    }

    const rows = [...loaded.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top));
    console.log(
      `${"group".padEnd(64)} ${"idle MB".padStart(8)} ${"after MB".padStart(9)} ${"count idle".padStart(11)} ${"count after".padStart(12)}`,
    );
    for (const [key, g] of rows) {
      const i = idle.get(key) ?? { bytes: 0, count: 0 };
      console.log(
        `${key.slice(0, 64).padEnd(64)} ${(i.bytes / MB).toFixed(2).padStart(8)} ${(g.bytes / MB).toFixed(2).padStart(9)} ${String(i.count).padStart(11)} ${String(g.count).padStart(12)}`,
      );
    }
    const grown = [...loaded.entries()]
      .map(
        ([key, g]) =>
          [key, g.count - (idle.get(key)?.count ?? 0), g.bytes - (idle.get(key)?.bytes ?? 0)] as const,
      )
      .filter(([, count]) => count > 500)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15);
    console.log("\nobjects that grew most in count (key, +count, +MB):");
    for (const [key, count, bytes] of grown)
      console.log(`  ${key.slice(0, 70).padEnd(70)} +${count}  +${(bytes / MB).toFixed(2)}`);
  } finally {
    for (const child of started.reverse()) await child.stop();
    if (values.keep) console.log(`snapshots kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

await main();
