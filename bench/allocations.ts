/**
 * What the router allocates per request, by function: starts the stack as `npm run bench` does
 * (router and nats-server on core 0), warms the router up, then samples every allocation V8
 * makes during a closed loop, the garbage included (V8's sampling heap profiler, with objects
 * collected by minor and major GCs kept in the profile). Under load the router spends 10–15 %
 * of its time in GC, and a young-generation collection costs in proportion to how often the
 * young generation fills: bytes allocated per request is the figure that drives it.
 *
 *   node --import tsx bench/allocations.ts [--seconds 8] [--concurrency 128] [--warmup 3000]
 *     [--top 30] [--out <file.heapprofile>] [--json]
 *
 * The router runs with `--inspect` on a free loopback port; this script drives the profiler
 * over the DevTools protocol. Sampling slows the router (about 2×), so throughput here means
 * nothing; bytes per request do not depend on it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "undici";
import { runClosedLoop } from "./load.js";
import { positive } from "./options.js";
import { freePort } from "./processes.js";
import { ensureBuilt } from "./setup.js";
import { startStack, stopStack } from "./stack.js";
import { httpChatTarget } from "./targets.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string" },
    concurrency: { type: "string" },
    warmup: { type: "string" },
    top: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const seconds = positive("seconds", values.seconds, 8);
const concurrency = positive("concurrency", values.concurrency, 128);
const warmupCalls = positive("warmup", values.warmup, 3000);
const top = positive("top", values.top, 30);

/** A node of V8's sampling heap profile: bytes still attributed to this call path. */
interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** The few DevTools-protocol calls this needs, over the inspector's WebSocket. */
class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
      if (message.id !== undefined) this.pending.get(message.id)?.(message);
    });
  }

  static async open(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      webSocketDebuggerUrl: string;
    }>;
    const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("cannot reach the router's inspector")), {
        once: true,
      });
    });
    return new Inspector(socket);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, (message) => {
        this.pending.delete(id);
        if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
        else resolve(message.result as T);
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** `function file:line`, with paths shortened to the package or to Beamline's own file. */
function frameName(frame: SamplingNode["callFrame"]): string {
  const url = frame.url
    .replace(/^.*node_modules\//, "")
    .replace(/^file:\/\/.*?\/dist\//, "")
    .replace(/^file:\/\//, "");
  return `${frame.functionName || "(anonymous)"} ${url}${url ? `:${frame.lineNumber + 1}` : ""}`;
}

/** Bytes by function: allocated in it (self), and in it or anything it called (inclusive). */
function summarise(root: SamplingNode) {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, stack: string[]) => {
    const name = frameName(node.callFrame);
    const path = [...stack, name];
    total += node.selfSize;
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    for (const frame of new Set(path)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, path);
  };
  walk(root, []);
  return { total, self, inclusive };
}

const workDir = await mkdtemp(join(tmpdir(), "beamline-alloc-"));
ensureBuilt(repoRoot, { build: false });
const inspectPort = await freePort();
const devKey = `alloc-${Date.now().toString(36)}-dev-key`;
const stack = await startStack({
  repoRoot,
  workDir,
  devKey,
  routerCpu: 0,
  loadCpu: 1,
  profileDir: undefined,
  routerNodeFlags: [`--inspect=127.0.0.1:${inspectPort}`],
});
const target = httpChatTarget({
  origin: stack.routerUrl,
  path: "/v1/chat/completions",
  connections: concurrency,
  headers: { authorization: `Bearer ${devKey}` },
});
let inspector: Inspector | undefined;
try {
  // Warm: V8 optimises the request path only after a few thousand calls, and optimised code
  // allocates differently (escape analysis removes some objects).
  await runClosedLoop(target.call, 8, 60_000, warmupCalls);
  inspector = await Inspector.open(inspectPort);
  await inspector.call("HeapProfiler.enable");
  await inspector.call("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true,
  });
  const run = await runClosedLoop(target.call, concurrency, seconds * 1000);
  const { profile } = await inspector.call<{ profile: { head: SamplingNode } }>("HeapProfiler.stopSampling");
  if (values.out) await writeFile(values.out, JSON.stringify(profile));
  const { total, self, inclusive } = summarise(profile.head);
  const perRequest = (bytes: number) => bytes / 1024 / Math.max(1, run.ok);
  const ranked = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, kbPerRequest: perRequest(bytes), share: bytes / total }));
  const result = {
    requests: run.ok,
    errors: run.errors,
    allocatedMB: total / 2 ** 20,
    kbPerRequest: perRequest(total),
    self: ranked(self),
    // Beamline's own functions and the packages' entry points, with what they call.
    inclusive: ranked(new Map([...inclusive].filter(([name]) => !name.startsWith("(")))),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const line = (e: { name: string; kbPerRequest: number; share: number }) =>
      `${e.kbPerRequest.toFixed(2).padStart(8)} KB ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}`;
    process.stdout.write(
      `${run.ok} requests (${run.errors} errors) at ${concurrency} in flight for ${seconds} s: ` +
        `${result.kbPerRequest.toFixed(1)} KB allocated per request (${result.allocatedMB.toFixed(0)} MB)\n\n` +
        `Allocated in the function itself, per request:\n${result.self.map(line).join("\n")}\n\n` +
        `Allocated in the function or what it called, per request:\n${result.inclusive.map(line).join("\n")}\n`,
    );
  }
} finally {
  inspector?.close();
  await target.close();
  await stopStack(stack);
  await rm(workDir, { recursive: true, force: true });
}
