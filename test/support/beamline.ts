import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineConfig, type BeamlineConfigInput, loadConfig } from "../../src/config/index.js";
import type { EventStore } from "../../src/nats/index.js";
import { createLogger } from "../../src/observability/index.js";
import { type RunningBeamline, startBeamline } from "../../src/runtime/index.js";
import { capturedLog } from "./captured-log.js";
import { TEST_MASTER_KEY } from "./cli.js";
import { type NatsServer, startNatsServer } from "./nats-server.js";
import { signedStore, TEST_EVENT_SIGNING_KEY } from "./signing.js";
import { waitFor } from "./wait.js";

/** The dev tenant's key in every test Beamline: fixed, so tests can also send a wrong one. */
export const TEST_DEV_KEY = "bl-test-dev-key-0123456789abcdef";

/** Configuration on top of the test defaults; `mock`, `provider` and `openai` merge field by field. */
export type TestBeamlineOverrides = Partial<
  Omit<BeamlineConfigInput, "mock" | "provider" | "openai" | "metrics">
> & {
  mock?: Partial<BeamlineConfigInput["mock"]>;
  metrics?: Partial<BeamlineConfigInput["metrics"]>;
  provider?: Partial<BeamlineConfigInput["provider"]>;
  openai?: Partial<BeamlineConfigInput["openai"]>;
};

/** A Beamline with every role, its own nats-server and the built-in mock provider. */
export interface TestBeamline {
  app: RunningBeamline;
  /** The nats-server this Beamline runs on (a fresh one, removed by {@link TestBeamline.stop}). */
  server: NatsServer;
  /** Beamline's own connection, for reading streams in assertions. */
  nc: NatsConnection;
  /**
   * An event store on that connection that signs as Beamline's roles do, for tests that write
   * configuration or requests themselves (an unsigned write is ignored, as a stranger's is).
   */
  store: EventStore;
  /** The gateway, e.g. `http://127.0.0.1:41234`; OpenAI clients take `${baseUrl}/v1`. */
  baseUrl: string;
  /** The metrics listener (`${metricsUrl}/metrics`), on a free loopback port. */
  metricsUrl: string;
  devKey: string;
  config: BeamlineConfig;
  /** Everything Beamline logged so far (pino JSON lines, debug level and up). */
  logs(): string;
  /** Stops Beamline, then the nats-server. */
  stop(): Promise<void>;
}

/**
 * Starts a real nats-server and `startBeamline` on it, gateway on a free port, logs captured
 * in memory (so a test can prove no secret is ever logged). Pass `ackWaitMs` (and friends)
 * in `overrides` for tests that need fast redelivery.
 */
export async function startTestBeamline(overrides: TestBeamlineOverrides = {}): Promise<TestBeamline> {
  const server = await startNatsServer();
  // Local state of its own (the notary's signing key), never the checkout's `.data`.
  const dataDir = await mkdtemp(join(tmpdir(), "bl-test-data-"));
  const { mock, provider, openai, metrics, ...rest } = overrides;
  let config: BeamlineConfig;
  let app: RunningBeamline;
  const sink = capturedLog();
  try {
    config = loadConfig({
      httpPort: 0,
      devKey: TEST_DEV_KEY,
      logLevel: "debug",
      // A stuck request fails its test with a 504 in seconds instead of hanging for minutes.
      requestTimeoutMs: 20_000,
      dataDir,
      eventSigning: { key: TEST_EVENT_SIGNING_KEY },
      contentAtRest: { masterKey: TEST_MASTER_KEY },
      ...rest,
      natsUrl: server.url,
      // Never the environment's OPENAI_API_KEY: tests only talk to the mock.
      openai: { ...openai },
      mock: { ...mock },
      provider: { ...provider },
      metrics: { port: 0, ...metrics },
    });
    const log = createLogger({ level: config.logLevel, destination: sink });
    app = await startBeamline(config, { log });
  } catch (error) {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  if (!app.httpUrl) {
    await app.stop();
    await server.stop();
    throw new Error("startTestBeamline: the gateway role did not start (no httpUrl)");
  }
  return {
    app,
    server,
    nc: app.nc,
    store: signedStore(app.nc),
    baseUrl: app.httpUrl,
    metricsUrl: app.metricsUrl,
    devKey: config.devKey ?? TEST_DEV_KEY,
    config,
    logs: () => sink.text(),
    async stop() {
      try {
        await app.stop();
      } finally {
        await server.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Messages stored in `stream` right now. */
export async function streamMessageCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  return (await jsm.streams.info(stream)).state.messages;
}

/**
 * Waits until a durable consumer has been handed every message of its stream and acknowledged
 * them all: whatever the stage would write about those messages is written by then.
 */
export async function waitForConsumerCaughtUp(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  timeoutMs = 10_000,
): Promise<void> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(stream, consumer);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { what: `consumer ${stream}/${consumer} to have processed and acknowledged everything`, timeoutMs },
  );
}
