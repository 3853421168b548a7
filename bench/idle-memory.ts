/**
 * The router's memory at rest: starts it as `npm start` does (embedded nats-server, an
 * external mock), waits for `/readyz`, then reads its RSS and V8 heap every 200 ms for a few
 * seconds and prints the last reading and the peak. `--router-env` compares settings, e.g. a
 * catalog with an OpenAI model (whose encoding the worker then preloads).
 *
 *   node --import tsx bench/idle-memory.ts [--seconds 5] [--router-env KEY=VALUE]… [--runs 3]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { envPairs } from "./options.js";
import { type Child, rssBytes } from "./processes.js";
import { readRouterMemory } from "./router-metrics.js";
import { ensureBuilt } from "./setup.js";
import { startMock, startRouter } from "./stack.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    "router-env": { type: "string", multiple: true },
    "router-node-flags": { type: "string" },
  },
});
const MB = 2 ** 20;
const routerEnv = envPairs(values["router-env"]);

async function once(mockUrl: string): Promise<{ rss: number; peak: number; heapUsed: number }> {
  const workDir = await mkdtemp(join(tmpdir(), "beamline-idle-"));
  let router: Child | undefined;
  try {
    const started = await startRouter(
      {
        repoRoot,
        workDir,
        devKey: `idle-${Date.now().toString(36)}-dev-key`,
        routerCpu: undefined,
        loadCpu: undefined,
        profileDir: undefined,
        routerNodeFlags: values["router-node-flags"]?.split(" ").filter(Boolean) ?? [],
        routerEnv,
      },
      undefined,
      mockUrl,
    );
    router = started.child;
    let rss = 0;
    let peak = 0;
    // A bounded sampling window, not a wait for a state: the figure is what it holds at rest.
    const until = Date.now() + Number(values.seconds) * 1000;
    while (Date.now() < until) {
      rss = rssBytes(router.pid) ?? rss;
      peak = Math.max(peak, rss);
      await sleep(200);
    }
    const memory = await readRouterMemory(started.metricsUrl);
    return { rss: rss / MB, peak: peak / MB, heapUsed: (memory?.heapUsedBytes ?? 0) / MB };
  } finally {
    await router?.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  ensureBuilt(repoRoot, { build: false });
  const mock = await startMock(repoRoot, undefined);
  try {
    for (let run = 1; run <= Number(values.runs); run++) {
      const r = await once(mock.url);
      console.log(
        `run ${run}: idle router RSS ${r.rss.toFixed(0)} MB (peak ${r.peak.toFixed(0)} MB), V8 heap used ${r.heapUsed.toFixed(0)} MB`,
      );
    }
  } finally {
    await mock.child.stop();
  }
}

await main();
