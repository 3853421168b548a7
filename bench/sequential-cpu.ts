/**
 * CPU time per request of the router and of its nats-server at one request in flight: a
 * bounded sequential loop of chat completions, with the processes' user + system time read
 * from /proc before and after. CPU time, unlike throughput or latency, hardly moves when other
 * work shares the machine, so it is the figure to compare a change with on a busy host.
 *
 *   node --import tsx bench/sequential-cpu.ts [--requests 500] [--rounds 3]
 *
 * Each round runs `--requests` requests after a warm-up, then waits until billing and the
 * projectors have gone quiet (the router's CPU time stops growing) so their work after the
 * answer is counted too. Prints each round and the median.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuTimes } from "./processes.js";
import { startMock, startNats, startRouter } from "./stack.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "500" },
    rounds: { type: "string", default: "3" },
  },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 1 to 100000");
}
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error("--rounds must be 1 to 20");

const workDir = await mkdtemp(join(tmpdir(), "beamline-seqcpu-"));
const repoRoot = process.cwd();
const devKey = `seqcpu-${Date.now().toString(36)}-dev-key`;
const place = { repoRoot, workDir, devKey, routerCpu: undefined, loadCpu: undefined, profileDir: undefined };
const nats = await startNats(join(workDir, "nats"), undefined);
const mock = await startMock(repoRoot, undefined);
const router = await startRouter({ ...place, routerNodeFlags: [] }, nats.url, mock.url);

async function call(): Promise<void> {
  const response = await fetch(`${router.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello." }] }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`the router answered ${response.status}: ${body}`);
}

function cpuMs(pid: number): number {
  const times = cpuTimes(pid);
  if (!times) throw new Error(`cannot read the CPU time of process ${pid}`);
  return times.userMs + times.systemMs;
}

/** Waits (bounded: 10 s) until the router's CPU time stops growing for 500 ms: background work is done. */
async function quiet(): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = cpuMs(router.child.pid);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = cpuMs(router.child.pid);
    if (now - last < 5) return;
    last = now;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  for (let i = 0; i < 50; i++) await call(); // warm-up: views loaded, JIT, consumers pulled
  await quiet();
  const routerPer: number[] = [];
  const natsPer: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const routerBefore = cpuMs(router.child.pid);
    const natsBefore = cpuMs(nats.child.pid);
    for (let i = 0; i < requests; i++) await call();
    await quiet();
    routerPer.push((cpuMs(router.child.pid) - routerBefore) / requests);
    natsPer.push((cpuMs(nats.child.pid) - natsBefore) / requests);
    process.stdout.write(
      `round ${round}: router ${routerPer.at(-1)!.toFixed(3)} ms, nats-server ${natsPer.at(-1)!.toFixed(3)} ms CPU per request\n`,
    );
  }
  process.stdout.write(
    `median of ${rounds} × ${requests} sequential requests: router ${median(routerPer).toFixed(3)} ms, nats-server ${median(natsPer).toFixed(3)} ms CPU per request\n`,
  );
} finally {
  await router.child.stop();
  await mock.child.stop();
  await nats.child.stop();
  await rm(workDir, { recursive: true, force: true });
}
