import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  apiKeysProjector,
  configDocumentsProjector,
  openQuotaKv,
  providerHealthProjector,
  quotaProjector,
  readProjectedQuota,
  spendProjector,
  tenantsProjector,
} from "../../projections/index.js";
import { openTenantExport } from "../../replay/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { QuotaLedger, QuotaLog } from "../admission/index.js";
import { loadCatalogFile } from "../catalog/index.js";
import type { BeamlineConfig, Role } from "../config/index.js";
import type { ContentMode } from "../events/index.js";
import { executionFromConfig, healthPolicyFromConfig, systemClock } from "../execution/index.js";
import { createNatsExtensionCaller, watchExtensionRegistry } from "../extensions/index.js";
import { buildGateway, WaiterRegistry } from "../gateway/index.js";
import { startHealthView } from "../health/index.js";
import { connectNats, EventStore, type RunningStage, runStage, type StageHandler } from "../nats/index.js";
import { loadNotaryKey, startNotary } from "../notary/index.js";
import { type BeamlineMetrics, createLogger, createMetrics, type Logger } from "../observability/index.js";
import { catalogVersions, startConfigViews } from "../policies/index.js";
import {
  type BillingDeps,
  billingStage,
  requestWorker,
  type StageDeps,
  type WorkerDeps,
} from "../stages/index.js";
import {
  bootstrapDevTenant,
  type DevBootstrapResult,
  hashApiKey,
  openTenancyAdmin,
  watchApiKeys,
  watchTenants,
} from "../tenancy/index.js";
import { loadEncodings } from "../tokens/index.js";
import { openContentAtRest } from "./content.js";
import { type EmbeddedNats, startEmbeddedNats } from "./embedded-nats.js";
import { setUpProviders } from "./providers.js";

export interface RunningBeamline {
  /** Base URL of the HTTP gateway, when this process runs it. */
  httpUrl: string | undefined;
  natsUrl: string;
  nc: NatsConnection;
  devKey: DevBootstrapResult | undefined;
  /** URL of the in-process mock provider, when started. */
  mockUrl: string | undefined;
  metrics: BeamlineMetrics;
  /** Stops taking work, lets in-flight work finish (bounded), closes everything. */
  stop(): Promise<void>;
}

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
 * Starts the roles of `config.roles` in this process. With no NATS_URL it starts its own
 * nats-server; with no provider key it serves the built-in mock. Streams are applied
 * (non-destructively) at start, so a fresh NATS works without a separate step.
 */
export async function startBeamline(
  config: BeamlineConfig,
  options: { log?: Logger } = {},
): Promise<RunningBeamline> {
  const log = options.log ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  const roles = new Set<Role>(config.roles);
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error) => log.warn({ err: error }, "shutdown step failed"));
  };
  // The request worker counts prompt tokens per request. Loading the encodings parses their
  // merge tables synchronously (about half a second); done before any NATS connection exists,
  // it cannot stall a request in flight or a heartbeat.
  if (roles.has("worker")) loadEncodings();
  try {
    let embedded: EmbeddedNats | undefined;
    if (!config.natsUrl) {
      embedded = await startEmbeddedNats({ dataDir: config.dataDir, port: config.embeddedNatsPort, log });
      cleanups.push(() => embedded!.stop());
    }
    const natsUrl = config.natsUrl ?? embedded!.url;
    const nc = await connectNats({ servers: natsUrl.split(","), name: `beamline-${config.instanceId}` });
    cleanups.push(() => nc.drain());
    const report = await applyTopology(nc, topologyOf(config));
    for (const line of report.lines.filter((l) => !l.startsWith("unchanged"))) log.info(line);

    // Content at rest: the tenant's policy picks the mode, read per event from the live view.
    let policyView:
      | { policyFor(tenant: string): { document: { content: { store: ContentMode } } } }
      | undefined;
    const atRest = await openContentAtRest(config, nc, {
      modeOf: (tenant) => policyView?.policyFor(tenant).document.content.store ?? "encrypted",
      create: true,
      log,
    });
    const store = new EventStore(nc, { codec: atRest.codec });
    cleanups.push(async () => store.close());
    const needsProviders = roles.has("worker");
    const providers = await setUpProviders(config, log, needsProviders || roles.has("gateway"), { nc });
    cleanups.push(() => providers.close());
    const available = new Set(providers.registry.names());
    if (!available.has("mock")) available.add("mock");
    const seedCatalog = await loadCatalogFile(config.catalogFile);
    // The gateway and the dev bootstrap take the time as a Date, read from the one clock.
    const now = () => new Date(systemClock.now());
    // The live catalog and tenant policies: published changes apply without a restart.
    const views = await startConfigViews({ nc, store, log, seedCatalog, providers: available, now: now() });
    cleanups.push(async () => views.stop());
    policyView = views.policies;
    const base: StageDeps = { nc, store, log, metrics, clock: systemClock };
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
    cleanups.push(async () => {
      keysView?.stop();
      tenantsView?.stop();
    });
    await Promise.all([keysView?.ready, tenantsView?.ready]);

    const handlers: StageHandler[] = [];
    if (roles.has("worker")) {
      const health = await startHealthView({ nc, policy: healthPolicy, clock: systemClock });
      cleanups.push(() => health.stop());
      const extensions = await watchExtensionRegistry(nc, log);
      cleanups.push(async () => extensions.stop());
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
        keys: keysView!,
        tenants: tenantsView!,
        extensions: { resolver: extensions, external: createNatsExtensionCaller(nc) },
      };
      handlers.push(requestWorker(worker));
    }
    if (roles.has("billing")) {
      const billing: BillingDeps = { ...base, quotas, catalogAt: catalogVersions(nc, [seedCatalog]) };
      handlers.push(billingStage(billing));
    }
    if (roles.has("projector")) {
      handlers.push(await apiKeysProjector(store));
      handlers.push(await tenantsProjector(store));
      handlers.push(await configDocumentsProjector(store));
      handlers.push(await providerHealthProjector(store, healthPolicy));
      handlers.push(await quotaProjector(nc, new QuotaLog(nc)));
      handlers.push(await spendProjector(store));
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
    cleanups.push(async () => {
      await Promise.all(running.map((stage) => stage.stop()));
    });
    if (roles.has("notary")) {
      const { key, keyFile, ...timing } = config.notary;
      const notaryKey = await loadNotaryKey({ key, keyFile, dataDir: config.dataDir }, { create: true });
      const notary = await startNotary({ nc, log, key: notaryKey, now, ...timing });
      cleanups.push(() => notary.stop());
    }

    let httpUrl: string | undefined;
    let devKey: DevBootstrapResult | undefined;
    if (roles.has("gateway")) {
      devKey = await bootstrapDevTenant(store, {
        devKey: config.devKey,
        localKeyFile: config.natsUrl ? undefined : join(config.dataDir, "dev-key"),
        now: now(),
      });
      const keys = keysView!;
      const tenants = tenantsView!;
      const waiters = new WaiterRegistry(nc, `gw-${randomBytes(6).toString("hex")}`, (error) =>
        log.error({ err: error }, "live inbox error"),
      );
      cleanups.push(async () => waiters.close());
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
        isReady: () => !nc.isClosed(),
        tenants,
        adminToken: config.adminToken,
        tenancyAdmin: await openTenancyAdmin(store, now),
        openTenantExport: (request, signal) => openTenantExport(nc, request, { signal }),
      });
      // Wait for the key view (and the dev key's projection), so the first request is not refused.
      await keys.ready;
      await tenants.ready;
      if (devKey.key && roles.has("projector")) {
        const hash = hashApiKey(devKey.key);
        for (let waited = 0; !keys.get(hash) && waited < 10_000; waited += 20) {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      httpUrl = await gateway.listen({ port: config.httpPort, host: config.httpHost });
      cleanups.push(() => gateway.close());
    }
    log.info({ roles: [...roles], natsUrl, httpUrl }, "Beamline is running");
    return { httpUrl, natsUrl, nc, devKey, mockUrl: providers.mock?.url, metrics, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
