import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { natsServerBinary } from "../test/support/nats-server.js";
import { buildBaseline } from "./baseline-build.js";
import { type Child, freePort, pinned, startChild, waitUntil } from "./processes.js";

/** The processes under test: nats-server and router on one core, the mock on the other. */
export interface Stack {
  nats: Child;
  natsUrl: string;
  /** nats-server's monitoring endpoint (`/varz`), e.g. `http://127.0.0.1:8222`. */
  natsMonitorUrl: string;
  mock: Child;
  /** Base URL of the mock, ending in `/v1`. */
  mockUrl: string;
  router: Child;
  /** Base URL of the router's gateway, e.g. `http://127.0.0.1:8080`. */
  routerUrl: string;
  /** Base URL of the router's metrics listener (`/metrics`), apart from the gateway. */
  routerMetricsUrl: string;
}

export interface StackOptions {
  repoRoot: string;
  /** Temporary folder: nats-server storage and the router's data folder. */
  workDir: string;
  devKey: string;
  routerCpu: number | undefined;
  loadCpu: number | undefined;
  /** When set, the router runs under `--cpu-prof` writing into this folder. */
  profileDir: string | undefined;
  /** Extra `node` flags for the router process. */
  routerNodeFlags: string[];
  /** Extra environment of the router (operator settings a scenario needs, e.g. pool sizes). */
  routerEnv?: Record<string, string>;
  /** Comma-separated roles of the router process (`--roles`); absent, all of them. */
  roles?: string;
  /** Provider timing of the mock; absent, it answers at once (scenarios 1–3). */
  mockTiming?: MockTiming;
}

/** How slowly the mock answers: time to first token, then one chunk every `chunkDelayMs`. */
export interface MockTiming {
  latencyMs: number;
  chunkDelayMs: number;
  /** Pieces the answer's content is streamed in. */
  chunks: number;
}

const HOST = "127.0.0.1";

/**
 * A JetStream nats-server with file storage under `storeDir`, on free loopback ports.
 * `extra` adds server flags (e.g. `--profile <port>`) and environment (e.g. `GOMEMLIMIT`).
 */
export async function startNats(
  storeDir: string,
  cpu: number | undefined,
  extra: { args?: string[]; env?: Record<string, string> } = {},
): Promise<{ child: Child; url: string; monitorUrl: string }> {
  await mkdir(storeDir, { recursive: true });
  const binary = await natsServerBinary();
  const port = await freePort();
  const monitorPort = await freePort();
  const [command, args] = pinned(cpu, binary, [
    "-js",
    "-sd",
    storeDir,
    "-a",
    HOST,
    "-p",
    String(port),
    "-m",
    String(monitorPort),
    "-n",
    "beamline-bench",
    ...(extra.args ?? []),
  ]);
  const child = startChild("nats-server", command, args, { env: { ...process.env, ...extra.env } });
  await waitUntil(child, `nats-server on port ${port} to report healthy JetStream`, async () => {
    const response = await fetch(`http://${HOST}:${monitorPort}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(1_000),
    });
    await response.body?.cancel();
    return response.ok ? true : undefined;
  });
  return { child, url: `nats://${HOST}:${port}`, monitorUrl: `http://${HOST}:${monitorPort}` };
}

/** The built-in mock provider as its own process (`beamline mock`); resolves with its base URL. */
export async function startMock(
  repoRoot: string,
  cpu: number | undefined,
): Promise<{ child: Child; url: string }> {
  let url: string | undefined;
  const [command, args] = pinned(cpu, process.execPath, [
    join(repoRoot, "bin/beamline.js"),
    "mock",
    "--port",
    "0",
  ]);
  const child = startChild("mock provider", command, args, {
    cwd: repoRoot,
    onLine: (line) => {
      if (/^https?:\/\//.test(line.trim())) url ??= line.trim();
    },
  });
  return { child, url: await waitUntil(child, "the mock provider to print its URL", () => url, 30_000) };
}

/**
 * The mock provider with a provider-like timing, as its own process. `beamline mock` has no
 * chunk count, so this runs the mock's environment-configured entry point (built next to the
 * CLI in `dist/`), which takes the same settings plus `MOCK_CHUNKS`.
 */
export async function startTimedMock(
  repoRoot: string,
  cpu: number | undefined,
  timing: MockTiming,
): Promise<{ child: Child; url: string }> {
  let url: string | undefined;
  const [command, args] = pinned(cpu, process.execPath, [join(repoRoot, "dist/src/providers/mock/main.js")]);
  const child = startChild("mock provider", command, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      MOCK_PORT: "0",
      MOCK_LATENCY_MS: String(timing.latencyMs),
      MOCK_CHUNK_DELAY_MS: String(timing.chunkDelayMs),
      MOCK_CHUNKS: String(timing.chunks),
    },
    onLine: (line) => {
      if (/^https?:\/\//.test(line.trim())) url ??= line.trim();
    },
  });
  return { child, url: await waitUntil(child, "the mock provider to print its URL", () => url, 30_000) };
}

/**
 * The router (`beamline start`, all roles) on an existing nats-server and an external mock,
 * with warn-level logs. Resolves once `/readyz` answers 200, which the gateway serves only
 * after the dev key's projection is in place. With no `natsUrl` the router starts its own
 * embedded nats-server under its data folder, as `npm start` does for a user.
 */
export async function startRouter(
  options: StackOptions,
  natsUrl: string | undefined,
  mockUrl: string,
): Promise<{ child: Child; url: string; metricsUrl: string }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const dataDir = join(options.workDir, "router");
  await mkdir(dataDir, { recursive: true });
  const nodeFlags = [
    ...options.routerNodeFlags,
    ...(options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : []),
  ];
  const [command, args] = pinned(options.routerCpu, process.execPath, [
    ...nodeFlags,
    join(options.repoRoot, "bin/beamline.js"),
    "start",
    ...(options.roles ? ["--roles", options.roles] : []),
  ]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: natsUrl,
    BEAMLINE_MOCK_URL: mockUrl,
    BEAMLINE_DEV_KEY: options.devKey,
    BEAMLINE_HTTP_PORT: String(port),
    BEAMLINE_HTTP_HOST: HOST,
    BEAMLINE_METRICS_HOST: HOST,
    BEAMLINE_METRICS_PORT: String(metricsPort),
    BEAMLINE_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    ...options.routerEnv,
  };
  if (natsUrl === undefined) delete env["NATS_URL"];
  // A real provider key in the caller's environment must not turn the benchmark into real traffic.
  delete env["OPENAI_API_KEY"];
  delete env["OPENAI_BASE_URL"];
  const name = options.roles ?? "router";
  const child = startChild(name, command, args, { env, cwd: options.repoRoot });
  const url = `http://${HOST}:${port}`;
  const metricsUrl = `http://${HOST}:${metricsPort}`;
  // A process without the gateway serves /readyz on its metrics listener only.
  const probe = !options.roles || options.roles.split(",").includes("gateway") ? url : metricsUrl;
  await waitUntil(child, `${name}'s /readyz on ${probe}`, async () => {
    const response = await fetch(`${probe}/readyz`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok ? true : undefined;
  });
  return { child, url, metricsUrl };
}

/** Starts nats-server, mock and router in that order; stops what started if a later step fails. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const started: Child[] = [];
  try {
    const nats = await startNats(join(options.workDir, "nats"), options.routerCpu);
    started.push(nats.child);
    const mock = options.mockTiming
      ? await startTimedMock(options.repoRoot, options.loadCpu, options.mockTiming)
      : await startMock(options.repoRoot, options.loadCpu);
    started.push(mock.child);
    const router = await startRouter(options, nats.url, mock.url);
    started.push(router.child);
    return {
      nats: nats.child,
      natsUrl: nats.url,
      natsMonitorUrl: nats.monitorUrl,
      mock: mock.child,
      mockUrl: mock.url,
      router: router.child,
      routerUrl: router.url,
      routerMetricsUrl: router.metricsUrl,
    };
  } catch (error) {
    for (const child of started.reverse()) await child.stop();
    throw error;
  }
}

/**
 * Stops the router (giving it 30 s to drain), then the mock and nats-server. Returns the router's
 * last 20 JSON log lines: it runs at LOG_LEVEL=warn, so after the start-up banner a clean run has none.
 */
export async function stopStack(stack: Stack): Promise<string[]> {
  await stack.router.stop(30_000);
  const routerOutput = stack.router
    .tail()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .slice(-20);
  await stack.mock.stop();
  await stack.nats.stop();
  return routerOutput;
}

/**
 * A baseline's process (`bench/<script>`, compiled to plain JavaScript) on `cpu`, ready once
 * `ready` finds what it waits for in a line of its output.
 */
async function startBaseline<T>(
  repoRoot: string,
  options: { name: string; script: string; cpu: number | undefined; env: Record<string, string> },
  ready: (line: string) => T | undefined,
): Promise<{ child: Child; found: T }> {
  let found: T | undefined;
  const [command, args] = pinned(options.cpu, process.execPath, [buildBaseline(repoRoot, options.script)]);
  const child = startChild(options.name, command, args, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    onLine: (line) => {
      found ??= ready(line.trim());
    },
  });
  return { child, found: await waitUntil(child, `the ${options.name} to be ready`, () => found, 30_000) };
}

/** The chain baseline's worker (c2) on the router's core, as Beamline's stages are. */
export async function startChainWorker(
  repoRoot: string,
  natsUrl: string,
  cpu: number | undefined,
): Promise<Child> {
  const env = { BENCH_NATS_URL: natsUrl };
  const options = { name: "chain worker", script: "chain-worker.ts", cpu, env };
  return (await startBaseline(repoRoot, options, (line) => (line === "ready" ? true : undefined))).child;
}

/** The skeleton baseline (c3) on the router's core; see bench/skeleton-router.ts. */
export async function startSkeleton(
  repoRoot: string,
  natsUrl: string,
  mockUrl: string,
  cpu: number | undefined,
  payloadBytes: number,
): Promise<{ child: Child; url: string }> {
  const env = { BENCH_NATS_URL: natsUrl, BENCH_MOCK_URL: mockUrl, BENCH_PAYLOAD_BYTES: String(payloadBytes) };
  const options = { name: "skeleton", script: "skeleton-router.ts", cpu, env };
  const { child, found } = await startBaseline(
    repoRoot,
    options,
    (line) => /^listening (\S+)/.exec(line)?.[1],
  );
  return { child, url: found };
}
