import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { assertClusterConsistent, type ClusterCheckOptions, type ClusterFigures } from "./cluster-checks.js";
import { type ClientAnswer, type LoadTenant, startClusterLoad } from "./cluster-load.js";
import { CLUSTER_DEV_KEY, type ClusterTopology, startClusterTopology } from "./cluster-topology.js";
import { signedStore } from "./signing.js";
import { waitFor } from "./wait.js";

/** A tenant whose hard daily budget the load runs into. */
export const CAPPED_TENANT = "capped";
/**
 * Admission reserves a mock-small request's estimate (about 0.0098 USD with no max_tokens), so
 * this budget holds one reservation at a time, and only while less than about 0.0004 USD has
 * been spent: a dozen or so requests (2e-5 USD each), then every request is refused. The
 * capped clients meet both the concurrent-reservation and the spent-budget refusals.
 */
export const CAPPED_BUDGET_USD = 0.0102;

/** A shared cluster topology for one fault file, with its tenants ready to call. */
export interface ClusterSuite {
  topology: ClusterTopology;
  tenants: LoadTenant[];
  /**
   * Runs bounded load through both gateways, applies `fault` once the load is warm, lets the
   * load go on until `afterFault` more answers came in, stops it and checks every invariant.
   * `fault` resolves with the time the fault ended.
   */
  scenario(
    fault: (load: {
      answered(count: number, timeoutMs?: number): Promise<void>;
      readonly count: number;
    }) => Promise<number>,
    options?: Omit<ClusterCheckOptions, "faultEndedAt" | "capped"> & { afterFault?: number },
  ): Promise<{ figures: ClusterFigures; answers: ClientAnswer[]; faultEndedAt: number }>;
  stop(): Promise<void>;
}

/**
 * Starts the topology (workers' mock provider streams with a small delay between chunks, so
 * streams are in flight when a fault lands), creates the capped tenant and waits until both
 * gateways serve both tenants.
 */
export async function startClusterSuite(): Promise<ClusterSuite> {
  const topology = await startClusterTopology({
    // Short ack wait: a killed worker's requests come back within seconds (heartbeats at 1 s).
    env: { BEAMLINE_ACK_WAIT_MS: "2000" },
    workerEnv: { BEAMLINE_MOCK_LATENCY_MS: "20", BEAMLINE_MOCK_CHUNK_DELAY_MS: "10" },
  });
  try {
    // Signed as the roles' own writes are: the projector ignores unsigned configuration.
    const store = signedStore(topology.nc);
    const admin = await openTenancyAdmin(store);
    await admin.createTenant({ id: CAPPED_TENANT });
    // Keys and policies need the tenant projected first (by the separate projector process).
    const cappedKey = (
      await waitFor(() => admin.issueKey(CAPPED_TENANT, { label: "cluster" }), {
        what: `a key for ${CAPPED_TENANT}`,
        timeoutMs: 30_000,
        intervalMs: 200,
      })
    ).key;
    await waitFor(
      async () =>
        publishPolicy(
          store,
          CAPPED_TENANT,
          { limits: { spendPerDayUsd: CAPPED_BUDGET_USD, spendWindow: "rolling" } },
          new Date(),
        ),
      { what: `the budget policy of ${CAPPED_TENANT} to be accepted`, timeoutMs: 30_000, intervalMs: 200 },
    );
    const tenants: LoadTenant[] = [
      { tenant: "dev", apiKey: CLUSTER_DEV_KEY },
      { tenant: "dev", apiKey: CLUSTER_DEV_KEY },
      { tenant: "dev", apiKey: CLUSTER_DEV_KEY },
      { tenant: CAPPED_TENANT, apiKey: cappedKey },
    ];
    for (const gateway of topology.gateways) {
      for (const apiKey of [CLUSTER_DEV_KEY, cappedKey]) {
        let last = "";
        await waitFor(
          async () => {
            const response = await fetch(`${gateway.httpUrl}/v1/chat/completions`, {
              method: "POST",
              headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
              body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "warm up" }] }),
            });
            last = `${response.status} ${await response.text()}`;
            // The capped key is proven by a quota refusal too: auth passed, the budget answered.
            return response.status === 200 || (apiKey === cappedKey && last.includes("BL_QUOTA_EXCEEDED"));
          },
          { what: `${gateway.name} to serve a tenant's key`, timeoutMs: 60_000, intervalMs: 200 },
        ).catch((error: Error) => {
          const tail = gateway.process.output().slice(-3_000);
          throw new Error(`${error.message}; last answer: ${last}; ${gateway.name}'s log ends:\n${tail}`, {
            cause: error,
          });
        });
      }
    }
    return {
      topology,
      tenants,
      async scenario(fault, options = {}) {
        const load = startClusterLoad({
          gatewayUrl: (index) => topology.gateways[index]?.httpUrl,
          gatewayCount: topology.gateways.length,
          tenants,
          clients: 8,
          deadlineMs: 45_000,
          maxRequestsPerClient: 1_500,
        });
        let faultEndedAt: number;
        try {
          await load.answered(16);
          faultEndedAt = await fault({
            answered: (count, timeoutMs) => load.answered(count, timeoutMs),
            get count() {
              return load.answers.length;
            },
          });
          await load.answered(options.afterFault ?? 16);
        } finally {
          await load.stop();
        }
        const figures = await assertClusterConsistent(topology, load.answers, {
          ...options,
          faultEndedAt,
          capped: { tenant: CAPPED_TENANT, budgetUsd: CAPPED_BUDGET_USD },
        });
        return { figures, answers: load.answers, faultEndedAt };
      },
      stop: () => topology.stop(),
    };
  } catch (error) {
    await topology.stop();
    throw error;
  }
}
