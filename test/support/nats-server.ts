import { type ChildProcess, execFile, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { waitFor } from "./wait.js";

/** A nats-server process with JetStream, listening on loopback only, with its own temporary storage. */
export interface NatsServer {
  /** Server name, unique within a cluster. */
  readonly name: string;
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** Client port; kept across {@link NatsServer.restart}. */
  readonly port: number;
  /** Base URL of the HTTP monitoring endpoint (`/healthz`, `/jsz`, `/varz`). */
  readonly monitorUrl: string;
  /** Temporary directory holding the generated config and the JetStream store (`<storeDir>/jetstream`). */
  readonly storeDir: string;
  /** Process id of the running server; undefined while it is down. Changes on restart. */
  readonly pid: number | undefined;
  /** Stops gracefully (SIGTERM), SIGKILLs after `stopTimeoutMs`, then removes storage unless `keepStorage`. */
  stop(): Promise<void>;
  /** SIGKILLs the server, as a crash would; storage stays for {@link NatsServer.restart}. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and storage, stopping it gracefully first if it runs. */
  restart(): Promise<void>;
}

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** Keep the temporary storage after stop() and at process exit, for inspection. Default false. */
  keepStorage?: boolean;
  /** How long a start or restart may take to become ready, in milliseconds. Default 20 000. */
  readyTimeoutMs?: number;
  /** How long stop() waits for a graceful exit before SIGKILL, in milliseconds. Default 10 000. */
  stopTimeoutMs?: number;
  /** nats-server configuration lines appended to the generated file, e.g. `max_payload: 2MB`. */
  extraConfig?: string;
}

/** Options of {@link startNatsCluster}; the server options apply to every node. */
export interface StartNatsClusterOptions extends StartNatsServerOptions {
  /** Number of nodes. Default 3, the smallest size that survives losing one node. */
  size?: number;
}

/** A JetStream cluster on loopback whose meta leader was elected before it was handed out. */
export interface NatsCluster {
  /** Client URLs of all nodes, for `connect({ servers: urls })`. */
  readonly urls: string[];
  readonly nodes: NatsServer[];
  /** Stops every node as {@link NatsServer.stop} does. */
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
const CLUSTER_NAME = "beamline-test";
const SUPPLY_SCRIPT = fileURLToPath(new URL("../../scripts/nats-server.sh", import.meta.url));
/** Fresh ports are tried this many times when another process takes one between probe and bind. */
const PORT_ATTEMPTS = 5;
/** Characters of server log kept to explain a failed start. */
const LOG_TAIL_CHARS = 4_000;

let binaryPath: Promise<string> | undefined;

/**
 * Path of the nats-server binary, resolved once per process by `scripts/nats-server.sh`, which
 * honours `BEAMLINE_NATS_SERVER`, checks the version floor and fetches a binary when needed.
 */
export function natsServerBinary(): Promise<string> {
  binaryPath ??= promisify(execFile)("bash", [SUPPLY_SCRIPT], { encoding: "utf8" }).then(
    ({ stdout }) => stdout.trim(),
    (error: Error & { stderr?: string }) => {
      binaryPath = undefined;
      throw new Error(`no usable nats-server binary: ${error.stderr?.trim() || error.message}`, {
        cause: error,
      });
    },
  );
  return binaryPath;
}

/** Starts a single JetStream server on random loopback ports and waits until it accepts clients. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  return withFreshPorts(async () => {
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const server = await ServerProcess.create({ name: `beamline-${port}`, port, monitorPort }, options);
    try {
      await server.start();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  });
}

/**
 * Starts a JetStream cluster of `size` nodes on loopback (random client, route and monitoring
 * ports) and waits until every node knows the JetStream meta leader, so streams can be created
 * through any node right away.
 */
export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  const { size = 3, readyTimeoutMs = 20_000 } = options;
  return withFreshPorts(async () => {
    const ports = await freePorts(size * 3);
    const specs = Array.from({ length: size }, (_, index) => ({
      name: `n${index + 1}`,
      port: ports[index * 3]!,
      clusterPort: ports[index * 3 + 1]!,
      monitorPort: ports[index * 3 + 2]!,
    }));
    const nodes = await Promise.all(
      specs.map((spec) =>
        ServerProcess.create(
          { ...spec, routePorts: specs.filter((other) => other !== spec).map((other) => other.clusterPort) },
          options,
        ),
      ),
    );
    const stopAll = async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    };
    try {
      const starts = await Promise.allSettled(nodes.map((node) => node.start()));
      const failed = starts.find((start) => start.status === "rejected");
      if (failed) throw failed.reason;
      await waitFor(async () => (await Promise.all(nodes.map(metaLeaderOf))).every(Boolean), {
        what: `a JetStream meta leader known to all ${size} nodes of cluster ${CLUSTER_NAME}`,
        timeoutMs: readyTimeoutMs,
        intervalMs: 100,
      });
    } catch (error) {
      await stopAll();
      throw error;
    }
    return { urls: nodes.map((node) => node.url), nodes, stop: stopAll };
  });
}

/** The meta leader's name as one node sees it in `/jsz`, or undefined before an election. */
async function metaLeaderOf(node: NatsServer): Promise<string | undefined> {
  const response = await fetch(`${node.monitorUrl}/jsz`, { signal: AbortSignal.timeout(1_000) });
  const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
  return jsz.meta_cluster?.leader || undefined;
}

interface ServerSpec {
  name: string;
  port: number;
  monitorPort: number;
  clusterPort?: number;
  routePorts?: number[];
}

/** Raised when a port picked as free was taken before nats-server could bind it. */
class PortTakenError extends Error {}

async function withFreshPorts<T>(attempt: () => Promise<T>): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof PortTakenError) || attemptNumber >= PORT_ATTEMPTS) throw error;
    }
  }
}

/**
 * Asks the OS for `count` distinct free loopback ports. All probes stay open until every port is
 * known, so one call never hands out the same port twice; another process may still take one
 * before nats-server binds it, which {@link withFreshPorts} absorbs.
 */
async function freePorts(count: number): Promise<number[]> {
  const probes: Server[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      const probe = createServer();
      probes.push(probe);
      await new Promise<void>((resolve, reject) => {
        probe.once("error", reject);
        probe.listen(0, HOST, resolve);
      });
    }
    return probes.map((probe) => {
      const address = probe.address();
      if (address === null || typeof address === "string") throw new Error("probe socket has no port");
      return address.port;
    });
  } finally {
    await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Servers whose storage or process this test process still owns; cleaned up at exit. */
const owned = new Set<ServerProcess>();
let exitHookInstalled = false;

/**
 * Kills every server still running and removes unkept storage when the test process ends,
 * however it ends short of SIGKILL, so no stray nats-server outlives a test run. Exit hooks must
 * be synchronous, hence SIGKILL and rmSync.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanUp = () => {
    for (const server of owned) server.abandon();
    owned.clear();
  };
  process.once("exit", cleanUp);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUp();
      // Re-raise with the default handler in place, so the process still dies of the signal.
      process.kill(process.pid, signal);
    });
  }
}

class ServerProcess implements NatsServer {
  readonly #spec: ServerSpec;
  readonly #options: StartNatsServerOptions;
  readonly #configFile: string;
  #child: ChildProcess | undefined;
  #exited: Promise<Exit> | undefined;
  #exit: Exit | undefined;
  #logTail = "";
  #storageRemoved = false;

  readonly storeDir: string;

  private constructor(spec: ServerSpec, options: StartNatsServerOptions, storeDir: string) {
    this.#spec = spec;
    this.#options = options;
    this.storeDir = storeDir;
    this.#configFile = join(storeDir, "nats-server.conf");
  }

  /** Creates the storage directory and config file; the process starts with {@link start}. */
  static async create(spec: ServerSpec, options: StartNatsServerOptions): Promise<ServerProcess> {
    installExitHook();
    const storeDir = await mkdtemp(join(tmpdir(), `beamline-nats-${spec.name}-`));
    const server = new ServerProcess(spec, options, storeDir);
    owned.add(server);
    await writeFile(server.#configFile, server.#config());
    return server;
  }

  get name(): string {
    return this.#spec.name;
  }

  get port(): number {
    return this.#spec.port;
  }

  get url(): string {
    return `nats://${HOST}:${this.#spec.port}`;
  }

  get monitorUrl(): string {
    return `http://${HOST}:${this.#spec.monitorPort}`;
  }

  get pid(): number | undefined {
    return this.#running ? this.#child?.pid : undefined;
  }

  get #running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  #config(): string {
    const { name, port, monitorPort, clusterPort, routePorts = [] } = this.#spec;
    const lines = [
      `server_name: ${JSON.stringify(name)}`,
      `listen: "${HOST}:${port}"`,
      `http: "${HOST}:${monitorPort}"`,
      `jetstream { store_dir: ${JSON.stringify(this.storeDir)} }`,
    ];
    if (clusterPort !== undefined) {
      const routes = routePorts.map((routePort) => JSON.stringify(`nats-route://${HOST}:${routePort}`));
      lines.push(
        `cluster { name: "${CLUSTER_NAME}", listen: "${HOST}:${clusterPort}", routes: [${routes.join(", ")}] }`,
      );
    }
    if (this.#options.extraConfig) lines.push(this.#options.extraConfig);
    return `${lines.join("\n")}\n`;
  }

  /** Spawns the server and resolves once it is ready; on failure the process is gone again. */
  async start(): Promise<void> {
    if (this.#storageRemoved) {
      throw new Error(
        `nats-server ${this.name} was stopped and its storage removed; pass keepStorage to restart it`,
      );
    }
    const binary = await natsServerBinary();
    this.#logTail = "";
    this.#exit = undefined;
    const child = spawn(binary, ["-c", this.#configFile], { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    this.#exited = new Promise<Exit>((resolve) => {
      child.once("error", (error) => {
        this.#exit = { code: null, signal: null, error };
        resolve(this.#exit);
      });
      child.once("close", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    // nats-server logs to stderr; keep its tail to explain failures.
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.#logTail = (this.#logTail + chunk).slice(-LOG_TAIL_CHARS);
    });
    // A test that forgets stop() must not hang its process; the exit hook kills the server then.
    child.unref();
    (child.stderr as Socket | null)?.unref();

    let outcome: "ready" | "exited";
    try {
      outcome = await waitFor(
        async () => {
          if (this.#exit) return "exited" as const;
          return (await this.#isHealthy()) && (await this.#acceptsClients()) ? ("ready" as const) : undefined;
        },
        {
          what: `nats-server ${this.name} on ${this.url} to report healthy JetStream`,
          timeoutMs: this.#options.readyTimeoutMs ?? 20_000,
          intervalMs: 25,
        },
      );
    } catch (error) {
      await this.#terminate("SIGKILL");
      throw new Error(`${(error as Error).message}\n--- nats-server log ---\n${this.#logTail}`, {
        cause: error,
      });
    }
    if (outcome === "exited") {
      if (/address already in use/i.test(this.#logTail)) {
        throw new PortTakenError(`a port of nats-server ${this.name} was taken: ${this.#logTail}`);
      }
      const { code, signal, error } = this.#exit!;
      throw new Error(
        `nats-server ${this.name} exited during start (code ${code}, signal ${signal}${error ? `, ${error.message}` : ""})` +
          `\n--- nats-server log ---\n${this.#logTail}`,
        { cause: error },
      );
    }
  }

  /**
   * JetStream enabled per `/healthz`, plus an accepted client connection: the client listener
   * opens only after a standalone server has restored its streams, so a restarted server is
   * ready to serve what it stored.
   */
  async #isHealthy(): Promise<boolean> {
    const response = await fetch(`${this.monitorUrl}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(1_000),
    });
    await response.body?.cancel();
    return response.ok;
  }

  #acceptsClients(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: HOST, port: this.#spec.port, timeout: 1_000 });
      const done = (connected: boolean) => {
        socket.destroy();
        resolve(connected);
      };
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
      socket.once("timeout", () => done(false));
    });
  }

  async #terminate(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    if (!this.#running) return;
    const child = this.#child!;
    // Hold the event loop open until the exit is seen; otherwise an idle test process would end
    // before this promise settles.
    child.ref();
    (child.stderr as Socket | null)?.ref();
    child.kill(signal);
    if (signal === "SIGTERM") {
      const stopTimeoutMs = this.#options.stopTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), stopTimeoutMs);
      });
      const first = await Promise.race([this.#exited!, timedOut]);
      clearTimeout(timer);
      if (first === "timeout") child.kill("SIGKILL");
    }
    await this.#exited;
  }

  async stop(): Promise<void> {
    await this.#terminate("SIGTERM");
    if (!this.#options.keepStorage && !this.#storageRemoved) {
      await rm(this.storeDir, { recursive: true, force: true, maxRetries: 3 });
      this.#storageRemoved = true;
    }
    owned.delete(this);
  }

  async kill(): Promise<void> {
    await this.#terminate("SIGKILL");
  }

  async restart(): Promise<void> {
    await this.#terminate("SIGTERM");
    await this.start();
  }

  /** Synchronous last-resort cleanup for the exit hook. */
  abandon(): void {
    if (this.#running) this.#child!.kill("SIGKILL");
    if (!this.#options.keepStorage) rmSync(this.storeDir, { recursive: true, force: true });
  }
}
