import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { openQuotaKv, readProjectedQuota } from "../../projections/index.js";
import { readTenantUsage } from "../../replay/index.js";
import { QuotaLog } from "../../src/admission/index.js";
import { computeCost, loadCatalogFile } from "../../src/catalog/index.js";
import { isEvent, tenantHistoryFilter } from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { createLogger } from "../../src/observability/index.js";
import { type PolicyView, publishPolicy, watchPolicies } from "../../src/policies/index.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { admissionEstimate, usdToNano } from "../../src/quotas/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { countPromptTokens, tokenizerFor } from "../../src/tokens/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { cleanEnv } from "../support/cli.js";
import { readEvents } from "../support/history.js";
import { waitFor } from "../support/index.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { signedStore, TEST_EVENT_SIGNING_KEY } from "../support/signing.js";

/**
 * Quotas hold under concurrency with real processes: 4 worker instances (worker + billing
 * roles, each its own process), one gateway with the projectors, one tenant whose policy holds
 * a hard spend budget and an RPM limit, 200 concurrent HTTP requests. Asserted from the usage
 * stream and the quota log: no overspend, admitted ≤ the RPM limit, every refusal a 429
 * `BL_QUOTA_EXCEEDED`, one terminal event per request, every reservation settled exactly once,
 * the KV projection equal to a rebuild. Then again with one worker SIGKILLed while it holds
 * admitted requests: they are redelivered to the survivors and nothing counts twice.
 */

const WORKERS = 4;
const REQUESTS = 200;
const RPM = 50;
/** Short, so the killed worker's requests come back within seconds; heartbeats go at 1 s. */
const ACK_WAIT_MS = 2_000;
const MODEL = "mock-small";
/** 200 ASCII characters: 50 prompt tokens as the mock counts them (57 with framing, as routing estimates). */
const CONTENT_CHARS = 200;
/** The mock's reply is longer than this, so every completion is cut to exactly this many tokens. */
const MAX_TOKENS = 20;
/**
 * 800 000 nano-USD. At mock-small's prices a request costs 19 500 (actual) and reserves
 * 20 550 (estimate): the budget admits 38 requests' reservations at once and at most 41
 * requests' actual cost, below the RPM limit, so the budget is what refuses. Rolling (not
 * calendar) so a run across UTC midnight cannot start a fresh budget.
 */
const BUDGET_USD = 0.0008;
const WORKER_MOCK_LATENCY_MS = 100;
/** The doomed worker's provider: slow enough that its admitted requests are still in flight when it dies. */
const DOOMED_MOCK_LATENCY_MS = 3_000;

interface Worker {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function startWorker(natsUrl: string, env: Record<string, string>): Worker {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "start", "--roles", "worker,billing"],
    {
      // As the deployment runs a worker: a clean environment with its master key and event
      // signing key, metrics on a free port.
      env: {
        ...cleanEnv(),
        BEAMLINE_EVENT_SIGNING_KEY: TEST_EVENT_SIGNING_KEY,
        NATS_URL: natsUrl,
        BEAMLINE_ACK_WAIT_MS: String(ACK_WAIT_MS),
        BEAMLINE_METRICS_PORT: "0",
        BEAMLINE_FAILPOINTS: "",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const append = (d: Buffer) => {
    // Only the tail matters for a failure message; a long run must not grow this without bound.
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, exited, output: () => output };
}

const isRunning = (worker: Worker) => worker.child.exitCode === null && worker.child.signalCode === null;

async function stopWorker(worker: Worker): Promise<void> {
  if (!isRunning(worker)) return;
  worker.child.kill("SIGTERM");
  const timer = setTimeout(() => worker.child.kill("SIGKILL"), 15_000);
  await worker.exited;
  clearTimeout(timer);
}

interface Answer {
  index: number;
  status: number;
  requestId: string;
  code: string | undefined;
  type: string | undefined;
  retryAfter: string | null;
}

/** A request's content: unique per run and index, exactly {@link CONTENT_CHARS} ASCII characters. */
function contentOf(tenant: string, index: number): string {
  return `${tenant} request ${String(index).padStart(3, "0")} `.padEnd(CONTENT_CHARS, "x");
}

describe("quotas under concurrency: 4 worker processes, 200 requests, one tenant", {
  timeout: 240_000,
}, () => {
  let beamline: TestBeamline;
  let doomedMock: MockProvider;
  let policies: PolicyView;
  const workers: Worker[] = [];
  const keys = new Map<string, string>();
  const policyLog = createLogger({ level: "silent" });

  const estimateNano = async () => {
    const catalog = await loadCatalogFile();
    const model = catalog.resolve(MODEL)!;
    const promptTokens = countPromptTokens(tokenizerFor(model), {
      messages: [{ role: "user", content: contentOf("t", 0) }],
    });
    return { model, estimate: admissionEstimate(model, promptTokens, MAX_TOKENS).costNanoUsd };
  };

  before(async () => {
    beamline = await startTestBeamline({
      roles: ["gateway", "projector", "notary"],
      ackWaitMs: ACK_WAIT_MS,
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
    });
    doomedMock = await startMockProvider({ latencyMs: DOOMED_MOCK_LATENCY_MS });
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    policies = await watchPolicies(beamline.nc, policyLog);
    await policies.ready;
    // Tenants, keys and policies exist before the workers start, so a worker's first request
    // already sees the limits (a request routed by the default policy has none).
    for (const tenant of ["storm", "stormkill"]) {
      await admin.createTenant({ id: tenant });
      keys.set(tenant, (await admin.issueKey(tenant, { label: "quota test" })).key);
      await publishPolicy(
        store,
        tenant,
        {
          routing: { strategy: { type: "cheapest" }, constraints: { allowedProviders: ["mock"] } },
          limits: { requestsPerMinute: RPM, spendPerDayUsd: BUDGET_USD, spendWindow: "rolling" },
        },
        new Date(),
      );
      await waitFor(() => policies.policyFor(tenant).version === 1, {
        what: `policy of ${tenant} projected`,
      });
      await waitFor(
        async () =>
          (
            await fetch(`${beamline.baseUrl}/v1/models`, {
              headers: { authorization: `Bearer ${keys.get(tenant)}` },
              signal: AbortSignal.timeout(5_000),
            })
          ).status === 200,
        { what: `the gateway to accept ${tenant}'s key` },
      );
    }
    for (let i = 0; i < WORKERS; i++) {
      const doomed = i === WORKERS - 1;
      workers.push(
        startWorker(
          beamline.server.url,
          doomed
            ? { BEAMLINE_MOCK_URL: doomedMock.url }
            : { BEAMLINE_MOCK_LATENCY_MS: String(WORKER_MOCK_LATENCY_MS) },
        ),
      );
    }
    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.output().includes("Beamline is running"), {
        what: `worker ${i} to start (output: ${worker.output().slice(-500)})`,
        timeoutMs: 60_000,
        intervalMs: 100,
      });
    }
  });

  after(async () => {
    await Promise.all(workers.map(stopWorker));
    policies?.stop();
    await doomedMock?.close();
    await beamline?.stop();
  });

  /** Fires {@link REQUESTS} requests at once for `tenant`; `during` runs alongside them. */
  async function storm(
    tenant: string,
    during?: (answered: () => number) => Promise<void>,
  ): Promise<Answer[]> {
    let answered = 0;
    const send = async (index: number): Promise<Answer> => {
      const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.get(tenant)}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: MODEL,
          max_tokens: MAX_TOKENS,
          messages: [{ role: "user", content: contentOf(tenant, index) }],
        }),
        // Bounded: the killed worker's requests come back after the ack wait, far within this.
        signal: AbortSignal.timeout(60_000),
      });
      const body = (await response.json()) as { error?: { code?: string; type?: string } };
      answered += 1;
      return {
        index,
        status: response.status,
        requestId: response.headers.get("x-request-id") ?? "",
        code: body.error?.code,
        type: body.error?.type,
        retryAfter: response.headers.get("retry-after"),
      };
    };
    const [answers] = await Promise.all([
      Promise.all(Array.from({ length: REQUESTS }, (_, i) => send(i))),
      during?.(() => answered),
    ]);
    return answers;
  }

  /** Every invariant of one run, from the HTTP answers, the request log, the usage stream and the quota log. */
  async function assertQuotasHeld(tenant: string, answers: Answer[]): Promise<string> {
    const { nc } = beamline;
    // Billing (settlement and usage) and the quota projection run after the answers.
    for (const consumer of [ConsumerNames.worker, ConsumerNames.billing]) {
      await waitForConsumerCaughtUp(nc, StreamNames.requests, consumer, 30_000);
    }
    await waitForConsumerCaughtUp(nc, StreamNames.quota, ConsumerNames.quotaProjector, 30_000);

    // HTTP: every request was answered 200 or 429 BL_QUOTA_EXCEEDED, each with its own id.
    const admittedAnswers = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    assert.equal(new Set(answers.map((a) => a.requestId)).size, REQUESTS, "one request id per answer");
    for (const answer of refused) {
      assert.equal(answer.status, 429, `request ${answer.index}: ${JSON.stringify(answer)}`);
      assert.equal(answer.code, "BL_QUOTA_EXCEEDED");
      assert.equal(answer.type, "rate_limit_error");
      assert.match(answer.retryAfter ?? "", /^[1-9][0-9]*$/, "a refusal says when to retry");
    }

    // The request log: exactly one terminal event per request, matching its answer.
    const history = await readEvents(nc, StreamNames.requests, tenantHistoryFilter(tenant));
    const terminals = new Map<string, string[]>();
    for (const { event } of history) {
      if (event.type !== "request.completed" && event.type !== "request.failed") continue;
      terminals.set(event.requestId, [...(terminals.get(event.requestId) ?? []), event.type]);
    }
    for (const answer of answers) {
      const expected = answer.status === 200 ? "request.completed" : "request.failed";
      assert.deepEqual(terminals.get(answer.requestId), [expected], `terminal events of ${answer.requestId}`);
    }
    assert.equal(terminals.size, REQUESTS, "no terminal event for a request nobody sent");

    // The quota log: one reservation and one settlement per admitted request, nothing expired.
    const quotaEvents = [];
    for await (const stored of new QuotaLog(nc).readAfter(tenant, 0)) quotaEvents.push(stored.event);
    const reserved = quotaEvents.filter((e) => isEvent(e, "quota.reserved"));
    const settled = quotaEvents.filter((e) => isEvent(e, "quota.settled"));
    const admittedIds = new Set(admittedAnswers.map((a) => a.requestId));
    assert.deepEqual(new Set(reserved.map((e) => e.requestId)), admittedIds, "reserved exactly the admitted");
    assert.equal(reserved.length, admittedIds.size, "one reservation per admitted request");
    assert.deepEqual(new Set(settled.map((e) => e.requestId)), admittedIds, "settled exactly the admitted");
    assert.equal(settled.length, admittedIds.size, "settled exactly once each");
    assert.equal(quotaEvents.length, reserved.length + settled.length, "no expiry, nothing else");

    // The usage stream: admitted ≤ RPM, spend ≤ budget, one record per admitted request.
    const usage = await readTenantUsage(nc, tenant);
    const usageIds = usage.map((u) => u.event.requestId);
    assert.equal(new Set(usageIds).size, usage.length, "one usage record per request");
    assert.ok(
      usageIds.every((id) => admittedIds.has(id)),
      "usage only for admitted requests",
    );
    assert.ok(usage.length <= admittedIds.size, "usage events ≤ admitted");
    assert.ok(admittedIds.size <= RPM, `${admittedIds.size} admitted, RPM limit ${RPM}`);
    const spentNano = usage.reduce(
      (sum, { event }) => sum + (isEvent(event, "usage.recorded") ? event.data.costNanoUsd : 0),
      0,
    );
    const budgetNano = usdToNano(BUDGET_USD);
    assert.ok(spentNano <= budgetNano, `spent ${spentNano} nano-USD of a ${budgetNano} budget: overspend`);
    // Refusals were made on the log's state, not on a stale copy: while fewer reservations
    // than fit at once were held, nothing was refused.
    const { model, estimate } = await estimateNano();
    assert.ok(
      admittedIds.size >= Math.floor(budgetNano / estimate),
      `only ${admittedIds.size} admitted; ${Math.floor(budgetNano / estimate)} fit the budget at their estimates`,
    );
    for (const { event } of usage) {
      if (!isEvent(event, "usage.recorded")) continue;
      const actual = computeCost(model, {
        promptTokens: event.data.promptTokens,
        completionTokens: event.data.completionTokens,
        cachedTokens: event.data.cachedTokens,
      }).costNanoUsd;
      assert.ok(actual <= estimate, `actual ${actual} above the reserved estimate ${estimate}`);
    }

    // Quota state: rebuilt from the log == the live KV projection; nothing left open; its
    // spend is exactly what the usage stream billed.
    const rebuilt = await new QuotaLog(nc).rebuild(tenant);
    const live = await readProjectedQuota(await openQuotaKv(nc), tenant);
    assert.deepEqual(live, rebuilt, "KV projection == rebuild");
    assert.deepEqual(rebuilt.reservations, {}, "no reservation left open");
    const quotaSpend = Object.values(rebuilt.tenantUsage.spendDay).reduce((a, b) => a + b, 0);
    assert.equal(quotaSpend, spentNano, "quota spend == billed spend");
    return `${admittedIds.size} admitted, ${refused.length} refused, ${spentNano} of ${budgetNano} nano-USD spent`;
  }

  test("200 concurrent requests on 4 workers: no overspend, admitted ≤ RPM, every reservation settled once", async (t) => {
    const answers = await storm("storm");
    t.diagnostic(await assertQuotasHeld("storm", answers));
  });

  test("a worker SIGKILLed while it holds admitted requests: they complete elsewhere, nothing counts twice", async (t) => {
    const doomed = workers[WORKERS - 1]!;
    let inFlightAtKill = 0;
    const answers = await storm("stormkill", async (answered) => {
      // Mid-run: the doomed worker holds at least one admitted request in its provider call.
      await waitFor(() => doomedMock.inFlight > 0 && answered() >= 10, {
        what: "the doomed worker to hold an admitted request",
        timeoutMs: 30_000,
        intervalMs: 10,
      });
      inFlightAtKill = doomedMock.inFlight;
      assert.ok(answered() < REQUESTS, "killed before the run ended");
      doomed.child.kill("SIGKILL");
      await doomed.exited;
    });
    assert.equal(doomed.child.signalCode, "SIGKILL");
    assert.ok(inFlightAtKill > 0);
    t.diagnostic(`${inFlightAtKill} provider calls in flight on the killed worker`);
    t.diagnostic(await assertQuotasHeld("stormkill", answers));
  });

  test("afterwards the log is still the record: billing reconciles and audit verify passes", async () => {
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});
