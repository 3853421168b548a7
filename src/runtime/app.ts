import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  apiKeysProjector,
  configDocumentsProjector,
  openQuotaKv,
  producersProjector,
  providerHealthProjector,
  quotaProjector,
  readProjectedQuota,
  spendProjector,
  tenantsProjector,
} from "../../projections/index.js";
import { openTenantExport } from "../../replay/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { HedgeLedger, QuotaLedger, QuotaLog } from "../admission/index.js";
import { loadCatalogFile } from "../catalog/index.js";
import type { BeamlineConfig, Role } from "../config/index.js";
import { BeamlineError } from "../errors/index.js";
import type { ContentMode } from "../events/index.js";
import { executionFromConfig, healthPolicyFromConfig, systemClock } from "../execution/index.js";
import { createNatsExtensionCaller, watchExtensionRegistry } from "../extensions/index.js";
import {
  buildGateway,
  buildMetricsListener,
  GatewayDrain,
  terminalSlotReader,
  WaiterRegistry,
} from "../gateway/index.js";
import { breakerStateSamples, startHealthView } from "../health/index.js";
import {
  ConnectionState,
  connectNats,
  EventSigner,
  EventStore,
  LiveChannel,
  loadEventSigningKey,
  type RunningStage,
  retryTransientStart,
  runStage,
  type StageHandler,
} from "../nats/index.js";
import { loadNotaryKey, startNotary } from "../notary/index.js";
import {
  type BeamlineMetrics,
  createLogger,
  createMetrics,
  createTenantLabeller,
  type Logger,
  loadTenantLabelKey,
} from "../observability/index.js";
import { catalogVersions, startConfigViews } from "../policies/index.js";
import {
  type BillingDeps,
  billingStage,
  ingressStage,
  openResponseCache,
  requestWorker,
  type StageDeps,
  type WorkerDeps,
} from "../stages/index.js";
import {
  assertNoActiveDevKey,
  bootstrapDevTenant,
  type DevBootstrapResult,
  hashApiKey,
  openTenancyAdmin,
  planDevKey,
  watchApiKeys,
  watchProducers,
  watchTenants,
} from "../tenancy/index.js";
import { loadEncodingsFor } from "../tokens/index.js";
import { startConsumerLagSampler } from "./consumer-lag-sampler.js";
import { openContentAtRest } from "./content.js";
import { type EmbeddedNats, startEmbeddedNats } from "./embedded-nats.js";
import { applyHeapGrowth } from "./heap-growth.js";
import { externalAuth, prepareEmbeddedAuth } from "./nats-auth.js";
import { setUpProviders } from "./providers.js";
import { runShutdownSteps, type ShutdownStep } from "./shutdown-steps.js";
import {
  capYoungGeneration,
  youngGenerationAdvice,
  youngGenerationCapMb,
  youngGenerationFacts,
} from "./young-generation.js";

export interface RunningBeamline {
  /** Base URL of the HTTP gateway, when this process runs it. */
  httpUrl: string | undefined;
  natsUrl: string;
  nc: NatsConnection;
  devKey: DevBootstrapResult | undefined;
  /** URL of this process's metrics listener (`/metrics`, `/healthz`, `/readyz`). */
  metricsUrl: string;
  /** URL of the in-process mock provider, when started. */
  mockUrl: string | undefined;
  metrics: BeamlineMetrics;
  /**
   * Stops taking work, lets in-flight requests, streams and stage messages finish (within
   * `availability.drainTimeoutMs`), closes everything. Calling it again returns the same stop.
   */
  stop(): Promise<void>;
}

/**
 * How long `/readyz` waits for NATS to answer a ping. Short: a probe is answered within a load
 * balancer's probe timeout (typically 1–5 s), and a server that takes longer is not ready.
 */
const READINESS_PROBE_TIMEOUT_MS = 1_000;
/**
 * How long a closing step may run past the drain's deadline before the stop goes on without it:
 * long enough for a NATS drain to flush what it holds to a live server, short enough that a
 * dead one cannot keep the process from exiting.
 */
const CLOSE_STEP_GRACE_MS = 10_000;

/** Topology settings from the configuration. */
export function topologyOf(config: BeamlineConfig) {
  return beamlineTopology({
    replicas: config.replicas,
    requestRetentionDays: config.requestRetentionDays,
    usageRetentionDays: config.usageRetentionDays,
    duplicateWindowMs: config.duplicateWindowMs,
    persistMode: config.persistMode,
    ackWaitMs: config.ackWaitMs,
    maxDeliver: config.maxDeliver,
    maxAckPending: config.maxAckPending,
  });
}

/**
 * How long a start keeps retrying transient NATS failures (a JetStream API timeout on a
 * saturated machine, a cluster electing its meta leader), in milliseconds. Longer than a
 * cluster election (4-9 s measured) with room for a busy machine; short enough that a NATS
 * that is really gone fails the start within a minute, with `BL_NATS_UNAVAILABLE`.
 */
export const START_RETRY_WINDOW_MS = 60_000;

/**
 * Starts the roles of `config.roles` in this process. With no NATS_URL it starts its own
 * nats-server; with no provider key it serves the built-in mock. Streams are applied
 * (non-destructively) at start, so a fresh NATS works without a separate step. A start that
 * fails on a transient NATS error is undone and tried again, within {@link START_RETRY_WINDOW_MS}.
 */
export async function startBeamline(
  config: BeamlineConfig,
  options: { log?: Logger; retryWindowMs?: number } = {},
): Promise<RunningBeamline> {
  const log = options.log ?? createLogger({ level: config.logLevel });
  applyHeapGrowth(config.heapGrowingPercent);
  const youngGenerationMb = youngGenerationCapMb(config.youngGenerationMb);
  capYoungGeneration(youngGenerationMb);
  log.debug({ youngGenerationMb, setting: config.youngGenerationMb }, "young generation cap (0: V8's rule)");
  const advice = youngGenerationAdvice(youngGenerationFacts());
  if (advice) log.warn(advice);
  return retryTransientStart(() => startBeamlineOnce(config, log), {
    what: `beamline (roles ${config.roles.join(",")})`,
    windowMs: options.retryWindowMs ?? START_RETRY_WINDOW_MS,
    log,
  });
}

/** One try of {@link startBeamline}: on failure everything it started is stopped again. */
async function startBeamlineOnce(config: BeamlineConfig, log: Logger): Promise<RunningBeamline> {
  const roles = new Set<Role>(config.roles);
  // Checked before anything starts: a dev key fixed by env on a network address is refused here.
  const devKeyPlan = roles.has("gateway")
    ? planDevKey({
        httpHost: config.httpHost,
        devKeySet: config.devKey !== undefined,
        allowOnNetwork: config.allowDevKeyOnNetwork,
      })
    : undefined;
  const metrics = createMetrics({ tenantLabel: await tenantLabellerOf(config) });
  const cleanups: ShutdownStep[] = [];
  const onStop = (name: string, run: () => Promise<void>) => cleanups.push({ name, run });
  // The graceful stop's deadline: the gateway's requests, then the stages' messages, share it.
  let drainDeadline: number | undefined;
  const drainLeftMs = () => Math.max(0, (drainDeadline ?? Date.now() + 10_000) - Date.now());
  // A closing step gets what is left of the drain (the stages use it) and a grace on top.
  const stopAll = () =>
    runShutdownSteps(cleanups, { stepTimeoutMs: () => drainLeftMs() + CLOSE_STEP_GRACE_MS, log });
  let drain: GatewayDrain | undefined;
  let stopping: Promise<void> | undefined;
  /**
   * Graceful stop: the gateway refuses new requests (503 + retry-after, readyz 503) and lets
   * its running ones finish; then the stages stop pulling and finish, and ack, what they hold;
   * all within `availability.drainTimeoutMs`. Then everything closes.
   */
  const stop = () => {
    stopping ??= (async () => {
      drainDeadline = Date.now() + config.availability.drainTimeoutMs;
      if (drain) {
        drain.begin();
        log.info({ inFlight: drain.inFlight }, "draining: new requests are refused");
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), drainLeftMs());
        });
        if (await Promise.race([drain.idle().then(() => false), timedOut])) {
          log.warn({ inFlight: drain.inFlight }, "drain timeout: cutting the requests still running");
        }
        clearTimeout(timer);
      }
      await stopAll();
    })();
    return stopping;
  };
  try {
    const seedCatalog = await loadCatalogFile(config.catalogFile);
    let embedded: EmbeddedNats | undefined;
    // Auth is on by default: the embedded server runs with the data directory's NATS authority,
    // and this process connects as a user holding exactly its roles' permissions.
    const auth = config.natsUrl ? undefined : await prepareEmbeddedAuth(config, log);
    if (auth) {
      embedded = await startEmbeddedNats({
        dataDir: config.dataDir,
        port: config.embeddedNatsPort,
        log,
        configFile: auth.configFile,
        gcPercent: config.embeddedNatsGcPercent,
      });
      onStop("embedded nats-server", () => embedded!.stop());
    }
    const natsUrl = config.natsUrl ?? embedded!.url;
    const credentials = auth ? auth.process : await externalAuth(config);
    const nc = await connectNats({
      servers: natsUrl.split(","),
      name: `beamline-${config.instanceId}`,
      ...credentials,
      // An external NATS may still be starting (docker compose starts both together).
      firstConnectWaitMs: config.natsUrl ? config.natsConnectWaitMs : 0,
      onWaiting: (error, waitedMs) =>
        log.warn({ natsUrl, waitedMs, reason: error.message }, "waiting for NATS"),
    });
    onStop("NATS connection drain", () => nc.drain());
    const connection = new ConnectionState(nc);
    connection.onChange((phase) =>
      (phase === "connected" ? log.info : log.warn).call(log, { phase }, `NATS connection ${phase}`),
    );
    const metricsListener = buildMetricsListener({
      metrics,
      token: config.metrics.token,
      operatorAuth: config.operatorAuth,
      isReady: () => connection.probe(READINESS_PROBE_TIMEOUT_MS),
      now: systemClock.now,
    });
    const metricsUrl = await listenOn(
      metricsListener,
      config.metrics.host,
      config.metrics.port,
      "BEAMLINE_METRICS_PORT",
    );
    onStop("metrics listener", () => metricsListener.close());
    // Creating streams is the operator's right, not a role's: with the embedded server the
    // admin identity applies the topology; against an external NATS the process applies what
    // its credential allows (nothing to change needs only reads; see docs/security.md).
    const topologyNc = auth
      ? await connectNats({ servers: natsUrl, name: `beamline-${config.instanceId}-admin`, ...auth.admin })
      : nc;
    const report = await applyTopology(topologyNc, topologyOf(config)).finally(async () => {
      if (topologyNc !== nc) await topologyNc.close();
    });
    for (const line of report.lines.filter((l) => !l.startsWith("unchanged"))) log.info(line);

    // Everything this process writes is signed; the worker and the projectors act only on
    // signed requests and configuration (docs/security.md). The key is never logged.
    const signingKey = await loadEventSigningKey(
      { key: config.eventSigning.key, since: config.eventSigning.since, dataDir: config.dataDir },
      { create: true, now: new Date(systemClock.now()) },
    );
    // Content at rest: the tenant's policy picks the mode, read per event from the live view.
    let policyView:
      | { policyFor(tenant: string): { document: { content: { store: ContentMode } } } }
      | undefined;
    const atRest = await openContentAtRest(config, nc, {
      modeOf: (tenant) => policyView?.policyFor(tenant).document.content.store ?? "encrypted",
      create: true,
      log,
    });
    const store = new EventStore(nc, { signer: new EventSigner(signingKey), codec: atRest.codec });
    onStop("event store", async () => store.close());
    const needsProviders = roles.has("worker");
    const providers = await setUpProviders(config, log, needsProviders || roles.has("gateway"), { nc });
    onStop("provider connections", () => providers.close());
    const available = new Set(providers.registry.names());
    if (!available.has("mock")) available.add("mock");
    // The gateway and the request worker count prompt tokens per request. Loading an encoding
    // reads its ranks file synchronously (0.08–0.13 s); done before any consumer or listener
    // serves traffic, it cannot stall a request in flight. Only the encodings of models this
    // process can route to are loaded (each is held for the life of the process): the seed
    // catalog lists gpt-4o for every install, but without an OpenAI key no request reaches it.
    if (roles.has("worker") || roles.has("gateway"))
      loadEncodingsFor(seedCatalog.models.filter((model) => available.has(model.provider)));
    // The gateway and the dev bootstrap take the time as a Date, read from the one clock.
    const now = () => new Date(systemClock.now());
    // The live catalog and tenant policies: published changes apply without a restart.
    const views = await startConfigViews({ nc, store, log, seedCatalog, providers: available, now: now() });
    onStop("config views", async () => views.stop());
    policyView = views.policies;
    // One live channel for the process: a worker's notices to this process's gateway stay in it.
    const live = new LiveChannel(nc);
    const base: StageDeps = { nc, live, store, log, metrics, clock: systemClock };
    const healthPolicy = healthPolicyFromConfig(config);
    const quotaKv = await openQuotaKv(nc);
    const quotas = new QuotaLedger({
      nc,
      clock: systemClock,
      reservationTtlMs: config.quotaReservationTtlMs,
      loadProjected: (tenant) => readProjectedQuota(quotaKv, tenant),
    });
    // Key and tenant views (KV watches): the gateway authenticates with them, the worker
    // reads per-key limits and tenant status (requests published on NATS meet no gateway).
    const needsTenancy = roles.has("worker") || roles.has("gateway");
    const keysView = needsTenancy ? await watchApiKeys(nc, log) : undefined;
    const tenantsView = needsTenancy ? await watchTenants(nc, log) : undefined;
    const producersView = roles.has("worker") ? await watchProducers(nc, log) : undefined;
    onStop("key, tenant and producer views", async () => {
      keysView?.stop();
      tenantsView?.stop();
      producersView?.stop();
    });
    await Promise.all([keysView?.ready, tenantsView?.ready, producersView?.ready]);

    const handlers: StageHandler[] = [];
    if (roles.has("worker")) {
      const health = await startHealthView({ nc, policy: healthPolicy, clock: systemClock });
      onStop("health view", () => health.stop());
      metrics.breakerState.sampleFrom(() => breakerStateSamples(health));
      const extensions = await watchExtensionRegistry(nc, log);
      onStop("extension registry", async () => extensions.stop());
      await extensions.ready;
      const execution = executionFromConfig(config);
      const worker: WorkerDeps = {
        ...base,
        providers: providers.registry,
        catalog: () => views.catalog.current(),
        policies: views.policies,
        health,
        execution: { ...execution, random: Math.random },
        quotas,
        hedges: new HedgeLedger({ nc, clock: systemClock }),
        keys: keysView!,
        tenants: tenantsView!,
        producers: producersView!,
        extensions: { resolver: extensions, external: createNatsExtensionCaller(nc) },
        responseCache: await openResponseCache(nc, atRest.keys, log),
      };
      handlers.push(requestWorker(worker));
      handlers.push(ingressStage(worker));
    }
    if (roles.has("billing")) {
      const billing: BillingDeps = { ...base, quotas, catalogAt: catalogVersions(nc, [seedCatalog]) };
      handlers.push(billingStage(billing));
    }
    if (roles.has("projector")) {
      handlers.push(await apiKeysProjector(store));
      handlers.push(await tenantsProjector(store));
      handlers.push(await configDocumentsProjector(store));
      handlers.push(await producersProjector(store));
      handlers.push(await providerHealthProjector(store, healthPolicy));
      handlers.push(await quotaProjector(nc, new QuotaLog(nc)));
      handlers.push(await spendProjector(store));
      const lag = startConsumerLagSampler({
        nc,
        metrics,
        log,
        consumers: topologyOf(config).consumers,
        intervalMs: config.metrics.lagIntervalMs,
      });
      onStop("consumer lag sampler", () => lag.stop());
    }
    const running: RunningStage[] = [];
    for (const handler of handlers) {
      running.push(
        await runStage({
          store,
          handler,
          log,
          metrics,
          ackWaitMs: config.ackWaitMs,
          maxDeliver: config.maxDeliver,
        }),
      );
    }
    onStop("stages", async () => {
      await Promise.all(running.map((stage) => stage.stop(drainLeftMs())));
    });
    if (roles.has("notary")) {
      const { key, keyFile, ...timing } = config.notary;
      const notaryKey = await loadNotaryKey({ key, keyFile, dataDir: config.dataDir }, { create: true });
      const notary = await startNotary({ nc, log, key: notaryKey, now, ...timing });
      onStop("notary", () => notary.stop());
    }

    let httpUrl: string | undefined;
    let devKey: DevBootstrapResult | undefined;
    if (roles.has("gateway")) {
      if (devKeyPlan === "bootstrap") {
        devKey = await bootstrapDevTenant(store, {
          devKey: config.devKey,
          localKeyFile: config.natsUrl ? undefined : join(config.dataDir, "dev-key"),
          now: now(),
        });
      }
      const keys = keysView!;
      const tenants = tenantsView!;
      const waiters = new WaiterRegistry(
        nc,
        `gw-${randomBytes(6).toString("hex")}`,
        (error) => log.error({ err: error }, "live inbox error"),
        { readTerminal: terminalSlotReader(store) },
        live,
      );
      onStop("live answer waiters", async () => waiters.close());
      drain = new GatewayDrain();
      const gateway = buildGateway({
        store,
        waiters,
        keys,
        catalog: () => views.catalog.current(),
        policies: views.policies,
        log,
        metrics,
        maxBodyBytes: config.maxBodyBytes,
        requestTimeoutMs: config.requestTimeoutMs,
        now,
        isReady: () => connection.probe(READINESS_PROBE_TIMEOUT_MS),
        connection,
        appendTimeoutMs: config.availability.appendTimeoutMs,
        idempotencyWindowMs: config.availability.idempotencyWindowMs,
        drain,
        tenants,
        adminToken: config.adminToken,
        operatorAuth: config.operatorAuth,
        tenancyAdmin: await openTenancyAdmin(store, now),
        openTenantExport: (request, signal) => openTenantExport(nc, request, { signal }),
        http: config.http,
      });
      // Wait for the key view (and the dev key's projection), so the first request is not refused.
      await keys.ready;
      await tenants.ready;
      if (devKeyPlan === "withhold") assertNoActiveDevKey(config.httpHost, { keys, tenants, now: now() });
      if (devKey?.key && roles.has("projector")) {
        const hash = hashApiKey(devKey.key);
        for (let waited = 0; !keys.get(hash) && waited < 10_000; waited += 20) {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      httpUrl = await listenOn(gateway, config.httpHost, config.httpPort, "BEAMLINE_HTTP_PORT");
      onStop("HTTP gateway", () => gateway.close());
    }
    log.info({ roles: [...roles], natsUrl, httpUrl, metricsUrl }, "Beamline is running");
    return { httpUrl, natsUrl, nc, devKey, metricsUrl, mockUrl: providers.mock?.url, metrics, stop };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The tenant labeller of the metrics settings; the `hashed` mode's key is loaded or generated here. */
async function tenantLabellerOf(config: BeamlineConfig) {
  const { tenantLabel: mode, tenantLabelLimit: limit, tenantHashKey } = config.metrics;
  const hashKey =
    mode === "hashed"
      ? await loadTenantLabelKey({ configured: tenantHashKey, dataDir: config.dataDir })
      : undefined;
  return createTenantLabeller({ mode, limit, hashKey });
}

/** Listens, turning a taken port into a start-up error that names the setting to change. */
async function listenOn(
  app: { listen(options: { host: string; port: number }): Promise<string> },
  host: string,
  port: number,
  setting: string,
): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    throw new BeamlineError(
      "BL_CONFIG_INVALID",
      `${host}:${port} is already in use: set ${setting} to a free port (or 0 for any).`,
      { cause: error },
    );
  }
}
