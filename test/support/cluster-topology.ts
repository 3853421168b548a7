import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.js";
import { type NatsCluster, type NatsServer, startNatsCluster } from "./nats-server.js";
import { waitFor } from "./wait.js";
import { type BeamlineProcess, startBeamlineProcess } from "./worker-process.js";

/** The dev key every gateway of the topology bootstraps, so clients can call at once. */
export const CLUSTER_DEV_KEY = "bl_cluster_fault_suite_key_0123456789";

/**
 * One Beamline role running as its own `beamline start` process. Kill and restart it as a
 * crash and an operator's restart would; the environment (and a gateway's port) stays.
 */
export class RoleProcess {
  #current: BeamlineProcess;
  #httpUrl: string | undefined;
  /** Whether the current process said "Beamline is running". */
  #serving = false;

  private constructor(
    readonly name: string,
    readonly roles: string,
    private readonly env: Record<string, string>,
  ) {
    this.#current = startBeamlineProcess(roles, env);
  }

  /** Spawns the process; await {@link RoleProcess.ready} before using it. */
  static spawn(name: string, roles: string, env: Record<string, string>): RoleProcess {
    return new RoleProcess(name, roles, env);
  }

  /** The running process (a new one after each restart). */
  get process(): BeamlineProcess {
    return this.#current;
  }

  /**
   * The gateway's base URL once it runs; undefined for other roles, while it is down and while
   * a restart has not yet reported "running" (a load balancer sends nothing to a backend that
   * is not ready).
   */
  get httpUrl(): string | undefined {
    return this.#serving && !this.#current.hasExited() ? this.#httpUrl : undefined;
  }

  /** Waits for "Beamline is running"; a gateway's URL is read from that log line. */
  async ready(timeoutMs = 90_000): Promise<void> {
    const line = await waitFor(
      () => {
        if (this.#current.hasExited()) {
          throw new Error(`${this.name} exited during start:\n${this.#current.output().slice(-4_000)}`);
        }
        return this.#current
          .output()
          .split("\n")
          .find((candidate) => candidate.includes("Beamline is running"));
      },
      { what: `${this.name} (${this.roles}) to start`, timeoutMs },
    );
    const httpUrl = (JSON.parse(line) as { httpUrl?: string }).httpUrl;
    if (httpUrl) {
      this.#httpUrl = httpUrl;
      // A restarted gateway listens on the port clients already know.
      this.env["BEAMLINE_HTTP_PORT"] = new URL(httpUrl).port;
    }
    this.#serving = true;
  }

  /** Sends `signal` (SIGKILL by default, as a crash) and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.#current.hasExited()) return;
    this.#current.child.kill(signal);
    await this.#current.exited;
  }

  /**
   * Starts the role again with the same environment and waits until it runs. A process that
   * crashes while starting is started again, up to 3 times, as a supervisor would; each such
   * crash is kept in {@link RoleProcess.startCrashes} so a test can report it.
   */
  async restart(): Promise<void> {
    await this.kill("SIGTERM");
    for (let attempt = 1; ; attempt += 1) {
      this.#serving = false;
      this.#current = startBeamlineProcess(this.roles, this.env);
      try {
        await this.ready();
        return;
      } catch (error) {
        if (!this.#current.hasExited() || attempt >= 3) throw error;
        this.startCrashes.push(this.#current.output().slice(-1_000));
      }
    }
  }

  /** The log tails of starts that crashed and were retried by {@link RoleProcess.restart}. */
  readonly startCrashes: string[] = [];

  async stop(): Promise<void> {
    await this.#current.stop();
  }
}

/**
 * Launches `check` every 100 ms without waiting for the previous one (a request that reached a
 * node mid-election hangs until its timeout) and resolves with the time the first one that
 * returned something truthy was sent: the earliest moment known to have it, so the time
 * after it that a test charges to Beamline is not shortened by polling.
 */
function firstSuccessAt(check: () => Promise<unknown>, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (outcome: () => void) => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      clearTimeout(giveUp);
      outcome();
    };
    const launch = () => {
      const sentAt = Date.now();
      check().then(
        (value) => {
          if (value) finish(() => resolve(sentAt));
        },
        () => undefined,
      );
    };
    const ticker = setInterval(launch, 100);
    const giveUp = setTimeout(
      () => finish(() => reject(new Error(`no leader after ${timeoutMs} ms`))),
      timeoutMs,
    );
    launch();
  });
}

/** Options of {@link startClusterTopology}. */
export interface ClusterTopologyOptions {
  /** Environment for every Beamline process, on top of the topology's own. */
  env?: Record<string, string>;
  /** Environment for the worker processes only (e.g. mock provider latency). */
  workerEnv?: Record<string, string>;
}

/**
 * Beamline as an operator runs it on a cluster: a 3-node JetStream cluster with every stream
 * and KV bucket at three replicas, and each role in its own process — 2 gateways, 2 workers,
 * billing, projector and notary — every one given all three node URLs.
 */
export interface ClusterTopology {
  readonly cluster: NatsCluster;
  /** All node URLs, comma-separated, as `NATS_URL` takes them. */
  readonly natsUrl: string;
  /** The test's own connection (it follows the cluster through node loss). */
  readonly nc: NatsConnection;
  readonly gateways: RoleProcess[];
  readonly workers: RoleProcess[];
  readonly billing: RoleProcess;
  readonly projector: RoleProcess;
  readonly notary: RoleProcess;
  /** The notary's data directory (its signing key), for `audit verify`. */
  readonly notaryDataDir: string;
  /** The node that leads `stream` now (KV buckets are streams named `KV_<bucket>`). */
  streamLeader(stream: string): Promise<NatsServer>;
  /** The node that leads KV `bucket` now. */
  kvLeader(bucket: string): Promise<NatsServer>;
  /**
   * Waits until every one of `streams` (and each `[stream, consumer]`) has a leader (other than
   * node `notOn`, when given), polling
   * each every 100 ms with a 1 s API timeout (a poll that reaches a node mid-election would
   * otherwise wait out the default 5 s), and resolves with the time the last one had one.
   */
  waitForLeaders(
    streams: string[],
    options?: { consumers?: Array<[string, string]>; notOn?: string; timeoutMs?: number },
  ): Promise<number>;
  /** Waits until `stream` has a leader and all its replicas are current. */
  waitForStreamHealthy(stream: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the whole topology and waits until every process runs. */
export async function startClusterTopology(options: ClusterTopologyOptions = {}): Promise<ClusterTopology> {
  const cluster = await startNatsCluster({ keepStorage: false });
  const natsUrl = cluster.urls.join(",");
  const dataDirs: string[] = [];
  const processes: RoleProcess[] = [];
  let nc: NatsConnection | undefined;
  const stopAll = async () => {
    await Promise.all(processes.map((role) => role.stop()));
    await nc?.close();
    await cluster.stop();
    await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  };
  try {
    nc = await connectNats({ servers: cluster.urls, name: "cluster-topology-test" });
    const spawn = async (name: string, roles: string, extra: Record<string, string> = {}) => {
      const dataDir = await mkdtemp(join(tmpdir(), `bl-cluster-${name}-`));
      dataDirs.push(dataDir);
      const role = RoleProcess.spawn(name, roles, {
        NATS_URL: natsUrl,
        BEAMLINE_REPLICAS: "3",
        BEAMLINE_DATA_DIR: dataDir,
        BEAMLINE_INSTANCE_ID: name,
        ...options.env,
        ...extra,
      });
      processes.push(role);
      return { role, dataDir };
    };
    // One at a time: the projector creates the streams and buckets first, so the others never
    // race to, and a start on a busy machine does not pile seven JetStream set-ups on it at once.
    const started = async (name: string, roles: string, extra: Record<string, string> = {}) => {
      const spawned = await spawn(name, roles, extra);
      await spawned.role.ready().catch(async (error: unknown) => {
        // A crash while starting is retried as on a restart (and kept in startCrashes).
        if (!spawned.role.process.hasExited()) throw error;
        spawned.role.startCrashes.push(spawned.role.process.output().slice(-1_000));
        await spawned.role.restart();
      });
      return spawned;
    };
    const { role: projector } = await started("projector", "projector");
    const { role: notary, dataDir: notaryDataDir } = await started("notary", "notary", {
      BEAMLINE_NOTARY_CHECKPOINT_INTERVAL_MS: "500",
      BEAMLINE_NOTARY_POLL_INTERVAL_MS: "200",
    });
    const { role: billing } = await started("billing", "billing");
    const workers: RoleProcess[] = [];
    for (const name of ["worker-1", "worker-2"])
      workers.push((await started(name, "worker", options.workerEnv)).role);
    const gateways: RoleProcess[] = [];
    for (const name of ["gateway-1", "gateway-2"]) {
      gateways.push(
        (await started(name, "gateway", { BEAMLINE_HTTP_PORT: "0", BEAMLINE_DEV_KEY: CLUSTER_DEV_KEY })).role,
      );
    }
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    // Short API timeouts for polls during elections; created now, while the cluster answers.
    const pollJsm = await jetstreamManager(nc, { timeout: 1_000 });
    const nodeNamed = (name: string | undefined) => {
      const node = cluster.nodes.find((candidate) => candidate.name === name);
      if (!node) throw new Error(`no node named ${name}`);
      return node;
    };
    // Asked again while the stream elects (a poll answered "no leader" or timed out).
    const streamLeader = async (stream: string) =>
      nodeNamed(
        await waitFor(async () => (await pollJsm.streams.info(stream)).cluster?.leader, {
          what: `stream ${stream} to name its leader`,
          timeoutMs: 30_000,
          intervalMs: 100,
        }),
      );
    const topology: ClusterTopology = {
      cluster,
      natsUrl,
      nc,
      gateways,
      workers,
      billing,
      projector,
      notary,
      notaryDataDir,
      streamLeader,
      kvLeader: (bucket) => streamLeader(`KV_${bucket}`),
      async waitForLeaders(streams, { consumers = [], notOn, timeoutMs = 60_000 } = {}) {
        const led = (leader: string | undefined) => leader !== undefined && leader !== notOn;
        const checks = [
          ...streams.map((stream) => async () => led((await pollJsm.streams.info(stream)).cluster?.leader)),
          ...consumers.map(
            ([stream, consumer]) =>
              async () =>
                led((await pollJsm.consumers.info(stream, consumer)).cluster?.leader),
          ),
        ];
        const ledAt = await Promise.all(checks.map((check) => firstSuccessAt(check, timeoutMs)));
        return Math.max(...ledAt);
      },
      async waitForStreamHealthy(stream, timeoutMs = 30_000) {
        await waitFor(
          async () => {
            const info = await jsm.streams.info(stream).catch(() => undefined);
            const replicas = info?.cluster?.replicas ?? [];
            return (
              info?.cluster?.leader !== undefined &&
              replicas.length === 2 &&
              replicas.every((replica) => replica.current && !replica.offline)
            );
          },
          { what: `stream ${stream} to have a leader and two current replicas`, timeoutMs, intervalMs: 200 },
        );
      },
      stop: stopAll,
    };
    return topology;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
