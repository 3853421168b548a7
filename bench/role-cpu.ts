/**
 * Where a request's CPU goes, by role: each of Beamline's roles runs as its own process
 * (`beamline start --roles <role>`), all of them and nats-server on the router core, and a
 * bounded sequential loop of chat completions runs from the other core. Each process's user +
 * system time is read from /proc before and after each round, once the background work after
 * the last answer (billing, folds, notary) has gone quiet, so every role's share is counted.
 *
 *   node --import tsx bench/role-cpu.ts [--requests 1000] [--rounds 3] [--json] [--profile <role>]
 *
 * `--profile <role>` runs that role's process under `node --cpu-prof` and prints where its
 * time went (warm-up included).
 *
 * Split into processes, each role also pays its own connection and wake-ups, so the sum is
 * above one all-roles process's figure (`bench/sequential-cpu.ts`); the split says which
 * role's work is worth cutting. The router runs from `dist/` (run `npm run build` first).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Child, cpuTimes } from "./processes.js";
import { formatProfile, summariseLatestProfile } from "./profile.js";
import { startMock, startNats, startRouter } from "./stack.js";

const ROLES = ["gateway", "worker", "billing", "projector", "notary"] as const;

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    "router-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    json: { type: "boolean", default: false },
    profile: { type: "string" },
  },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 1 to 100000");
}
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error("--rounds must be 1 to 20");
const routerCpu = Number(values["router-cpu"]);
const profiled = values.profile;
if (profiled !== undefined && !(ROLES as readonly string[]).includes(profiled)) {
  throw new Error(`--profile takes a role: ${ROLES.join(", ")}`);
}
const loadCpu = Number(values["load-cpu"]);

const repoRoot = process.cwd();
const workDir = await mkdtemp(join(tmpdir(), "beamline-rolecpu-"));
const devKey = `rolecpu-${Date.now().toString(36)}-dev-key`;
// One deployment: every process signs and checks events with the same key.
const signingKey = randomBytes(32).toString("base64url");
const started: Child[] = [];
const profileDir = join(workDir, "profile");

/**
 * One role's process, started as `npm run bench` starts the router; every role shares the data
 * folder (it holds the deployment's content key) and the event signing key.
 */
async function startRole(
  role: (typeof ROLES)[number],
  natsUrl: string,
  mockUrl: string,
): Promise<{ child: Child; url: string }> {
  const place = { repoRoot, workDir, devKey, routerCpu, loadCpu, routerNodeFlags: [] };
  const { child, url } = await startRouter(
    {
      ...place,
      roles: role,
      profileDir: role === profiled ? profileDir : undefined,
      routerEnv: { BEAMLINE_EVENT_SIGNING_KEY: signingKey, BEAMLINE_REQUEST_TIMEOUT_MS: "10000" },
    },
    natsUrl,
    mockUrl,
  );
  started.push(child);
  return { child, url };
}

function cpuMs(child: Child): number {
  const times = cpuTimes(child.pid);
  if (!times) throw new Error(`cannot read the CPU time of ${child.name}`);
  return times.userMs + times.systemMs;
}

/** Waits (bounded: 15 s) until no process's CPU time grows for 500 ms: the work after the answers is done. */
async function quiet(children: Child[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = children.reduce((sum, child) => sum + cpuMs(child), 0);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = children.reduce((sum, child) => sum + cpuMs(child), 0);
    if (now - last < 10) return;
    last = now;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const nats = await startNats(join(workDir, "nats"), routerCpu);
  started.push(nats.child);
  const mock = await startMock(repoRoot, loadCpu);
  started.push(mock.child);
  // Projector first: the gateway is ready only once the dev key's projection is in place.
  const roles = new Map<string, Child>();
  let gatewayUrl = "";
  for (const role of ["projector", "notary", "billing", "worker", "gateway"] as const) {
    const { child, url } = await startRole(role, nats.url, mock.url);
    roles.set(role, child);
    if (role === "gateway") gatewayUrl = url;
  }
  const measured = new Map<string, Child>([...ROLES.map((role) => [role, roles.get(role)!] as const)]);
  measured.set("nats-server", nats.child);

  const call = async () => {
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello." }] }),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`the gateway answered ${response.status}: ${body}`);
  };
  if (process.stderr.isTTY) process.stderr.write("warming up…\r");
  for (let i = 0; i < 500; i++) await call();
  await quiet([...measured.values()]);

  const perRound: Record<string, number>[] = [];
  for (let round = 1; round <= rounds; round++) {
    const before = new Map([...measured].map(([name, child]) => [name, cpuMs(child)]));
    for (let i = 0; i < requests; i++) {
      await call();
      if (process.stderr.isTTY && i % 100 === 0) {
        process.stderr.write(`round ${round}/${rounds}: ${i}/${requests} requests\r`);
      }
    }
    await quiet([...measured.values()]);
    const row: Record<string, number> = {};
    for (const [name, child] of measured) row[name] = ((cpuMs(child) - before.get(name)!) * 1000) / requests;
    perRound.push(row);
  }
  const names = [...measured.keys()];
  const medians = Object.fromEntries(names.map((name) => [name, median(perRound.map((row) => row[name]!))]));
  const total = names.reduce((sum, name) => sum + medians[name]!, 0);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ requests, rounds, perRound, medians, total }, null, 2)}\n`);
  } else {
    process.stdout.write(
      `CPU per request by process, µs (median of ${rounds} × ${requests} sequential requests; all on core ${routerCpu})\n`,
    );
    for (const name of names) {
      const share = (100 * medians[name]!) / total;
      const spread = perRound.map((row) => row[name]!.toFixed(0)).join(" / ");
      process.stdout.write(
        `  ${name.padEnd(12)} ${medians[name]!.toFixed(0).padStart(6)}  ${share.toFixed(1).padStart(5)} %   rounds ${spread}\n`,
      );
    }
    process.stdout.write(`  ${"total".padEnd(12)} ${total.toFixed(0).padStart(6)}\n`);
  }
  if (profiled) {
    await roles.get(profiled)!.stop(); // the profile is written when the process exits
    const summary = await summariseLatestProfile(profileDir);
    if (!summary) throw new Error(`the ${profiled} process wrote no CPU profile`);
    process.stdout.write(`\n${profiled}: ${formatProfile(summary)}\n`);
  }
} finally {
  for (const child of started.reverse()) await child.stop();
  await rm(workDir, { recursive: true, force: true });
}
