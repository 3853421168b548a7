import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Subscription } from "@nats-io/transport-node";
import { isEvent } from "../../src/events/index.js";
import { extensionSubject, openExtensionRegistry, registerExtension } from "../../src/extensions/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCli } from "../support/cli.js";
import {
  applyPolicy,
  chat,
  createTenantWithKey,
  type ExampleExtension,
  extensionOutcomes,
  type GatewayAnswer,
  openAiText,
  postJson,
  settledHistory,
  startExampleExtension,
  stopProcess,
  storedChoice,
  usageOf,
} from "../support/extensions.js";
import { readEvents } from "../support/history.js";
import { waitFor } from "../support/wait.js";

/**
 * Failure modes and live configuration, end to end: a step that never answers (timeout,
 * fail-open vs fail-closed, before and after the provider), and an external extension
 * added to a pipeline, registered and removed while requests flow, with no restart.
 */

const TIMEOUT_MS = 200;
/** Bounds the traffic of the live test: it stops long before, once every phase was seen. */
const MAX_LIVE_REQUESTS = 1_000;
/** Pause between one lane's requests: steady traffic whose volume does not depend on the machine's speed. */
const LANE_PACE_MS = 40;

function errorCode(answer: GatewayAnswer): string | undefined {
  return (answer.body as { error?: { code?: string } }).error?.code;
}

describe("extension failure modes and live changes, end to end", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let frozen: Subscription;
  let frozenCalls = 0;
  const processes: ExampleExtension[] = [];
  const keys = new Map<string, string>();
  const key = (tenant: string) => keys.get(tenant) as string;
  const frozenStep = (failureMode: "fail-open" | "fail-closed") => ({
    name: "frozen",
    version: "v1",
    timeoutMs: TIMEOUT_MS,
    failureMode,
  });

  before(async () => {
    beamline = await startTestBeamline();
    // `frozen/v1`: registered, listened to, never answered: every call times out.
    frozen = beamline.nc.subscribe(extensionSubject("frozen", "v1"), {
      callback: () => {
        frozenCalls += 1;
      },
    });
    await registerExtension(await openExtensionRegistry(beamline.nc), {
      name: "frozen",
      version: "v1",
      stages: ["pre", "validate", "post"],
      contract: 1,
    });
    processes.push(await startExampleExtension(beamline.app.natsUrl, "v2"));
    const policies: Record<string, unknown> = {
      "open-before": {
        pipeline: {
          validate: [frozenStep("fail-open"), { name: "pii", version: "v1", settings: { kinds: ["email"] } }],
        },
      },
      "closed-before": { pipeline: { validate: [frozenStep("fail-closed")] } },
      "open-after": { pipeline: { post: [frozenStep("fail-open")] } },
      "closed-after": { pipeline: { post: [frozenStep("fail-closed")] } },
      live: {},
      "live-closed": {},
    };
    for (const [tenant, policy] of Object.entries(policies)) {
      keys.set(tenant, await createTenantWithKey(beamline, tenant));
      // A fail-closed frozen request step refuses the probe before routing: its 504 says it applies.
      await applyPolicy(
        beamline,
        tenant,
        key(tenant),
        policy,
        tenant === "closed-before" ? { applied: (answer) => answer.status === 504 } : {},
      );
    }
  });

  after(async () => {
    frozen?.unsubscribe();
    await Promise.all(processes.map(({ child }) => stopProcess(child)));
    await beamline?.stop();
  });

  it("a timed-out fail-open request step is recorded with verdict error and the request continues", async () => {
    const calls = frozenCalls;
    const answer = await postJson(
      beamline,
      "/v1/chat/completions",
      key("open-before"),
      chat("mail bob@example.com"),
    );
    assert.equal(answer.status, 200, answer.text);
    // The next step (pii) ran on the request: the provider echoes the masked address.
    assert.equal(openAiText(answer), "Mock provider reply to: mail [EMAIL]");
    assert.equal(frozenCalls, calls + 1, "the frozen extension was called once");
    const outcomes = extensionOutcomes(await settledHistory(beamline, "open-before", answer.requestId));
    const timedOut = outcomes.get("validate.0");
    assert.equal(timedOut?.verdict, "error");
    assert.equal(timedOut?.failureMode, "fail-open");
    assert.equal(timedOut?.error?.code, "BL_EXTENSION_TIMEOUT");
    assert.ok(
      (timedOut?.durationMs ?? 0) >= TIMEOUT_MS * 0.9,
      `waited the timeout: ${timedOut?.durationMs} ms`,
    );
    assert.equal(outcomes.get("validate.1")?.verdict, "modify");
  });

  it("a timed-out fail-closed request step rejects with 504 BL_EXTENSION_TIMEOUT before any provider", async () => {
    for (const path of ["/v1/chat/completions", "/v1/messages"] as const) {
      const body = path === "/v1/messages" ? { ...chat("hello"), max_tokens: 100 } : chat("hello");
      const answer = await postJson(beamline, path, key("closed-before"), body);
      assert.equal(answer.status, 504, answer.text);
      const code =
        path === "/v1/messages" ? (answer.body as { error: { code: string } }).error.code : errorCode(answer);
      assert.equal(code, "BL_EXTENSION_TIMEOUT");
      const history = await settledHistory(beamline, "closed-before", answer.requestId);
      const failed = history.find(({ event }) => event.type === "request.failed")?.event;
      assert.ok(failed && isEvent(failed, "request.failed"));
      assert.deepEqual(failed.data.extension, { name: "frozen", version: "v1", stage: "validate" });
      assert.equal(extensionOutcomes(history).get("validate.0")?.error?.code, "BL_EXTENSION_TIMEOUT");
      assert.ok(
        !history.some(({ event }) => event.type === "route.decided" || event.type.startsWith("attempt.")),
        "never routed, never reached a provider",
      );
    }
  });

  it("a timed-out fail-open post step keeps the provider's answer", async () => {
    const answer = await postJson(beamline, "/v1/chat/completions", key("open-after"), chat("post timeout"));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(openAiText(answer), "Mock provider reply to: post timeout");
    const outcomes = extensionOutcomes(await settledHistory(beamline, "open-after", answer.requestId));
    assert.equal(outcomes.get("post.0")?.error?.code, "BL_EXTENSION_TIMEOUT");
  });

  it("a timed-out fail-closed post step fails the request with 504; the provider's tokens are billed", async () => {
    const answer = await postJson(beamline, "/v1/chat/completions", key("closed-after"), chat("post closed"));
    assert.equal(answer.status, 504, answer.text);
    assert.equal(errorCode(answer), "BL_EXTENSION_TIMEOUT");
    const history = await settledHistory(beamline, "closed-after", answer.requestId);
    const failed = history.find(({ event }) => event.type === "request.failed")?.event;
    assert.ok(failed && isEvent(failed, "request.failed"));
    assert.equal(failed.data.stage, "post");
    assert.deepEqual(failed.data.extension, { name: "frozen", version: "v1", stage: "post" });
    const attempt = history.find(({ event }) => event.type === "attempt.succeeded")?.event;
    assert.ok(attempt && isEvent(attempt, "attempt.succeeded"));
    assert.equal(attempt.data.postRejection?.error.code, "BL_EXTENSION_TIMEOUT");
    assert.equal(storedChoice(attempt.data.completion).content, null, "the refused answer is not kept");
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    assert.equal((await usageOf(beamline, "closed-after", answer.requestId)).length, 1);
  });

  it("an extension added to a pipeline, registered and removed while traffic flows: no restart, no lost request", async () => {
    interface Sent {
      tenant: string;
      answer: GatewayAnswer;
    }
    const sent: Sent[] = [];
    let stop = false;
    const lane = async (tenant: string, lane: number) => {
      for (let i = 0; !stop && sent.length < MAX_LIVE_REQUESTS; i += 1) {
        const answer = await postJson(
          beamline,
          "/v1/chat/completions",
          key(tenant),
          chat(`Acme ${lane}.${i}`),
        );
        sent.push({ tenant, answer });
        await new Promise((resolve) => setTimeout(resolve, LANE_PACE_MS));
      }
    };
    const traffic = Promise.all([lane("live", 1), lane("live", 2), lane("live-closed", 3)]);
    /** Waits until a request sent from now on satisfies `seen`. */
    const waitForAnswer = async (what: string, seen: (s: Sent) => boolean) => {
      const from = sent.length;
      await waitFor(() => sent.slice(from).some(seen), { what, timeoutMs: 20_000 });
    };
    const rewritten = (s: Sent) => s.answer.status === 200 && openAiText(s.answer).includes("another vendor");
    const step = (failureMode: string) => ({
      pipeline: {
        pre: [
          {
            name: "competitor-mention",
            version: "v2",
            timeoutMs: 5_000,
            failureMode,
            settings: { competitors: ["Acme"] },
          },
        ],
      },
    });
    try {
      await waitForAnswer("traffic without a pipeline", (s) => s.answer.status === 200);
      // 1. The pipelines name competitor-mention/v2, which is not registered yet.
      await applyPolicy(beamline, "live", key("live"), step("fail-open"));
      await applyPolicy(beamline, "live-closed", key("live-closed"), step("fail-closed"), {
        applied: (answer) => answer.status === 503,
      });
      await waitForAnswer(
        "live-closed refused while v2 is unregistered",
        (s) => s.tenant === "live-closed" && s.answer.status === 503,
      );
      // 2. Registered: the running service takes the next calls.
      await registerExtension(await openExtensionRegistry(beamline.nc), {
        name: "competitor-mention",
        version: "v2",
        stages: ["pre", "post"],
        contract: 1,
      });
      await waitForAnswer("a rewritten answer for live", (s) => s.tenant === "live" && rewritten(s));
      await waitForAnswer(
        "a rewritten answer for live-closed",
        (s) => s.tenant === "live-closed" && rewritten(s),
      );
      // 3. Removed by an operator's CLI, while the service keeps running.
      assert.match(
        await runCli(beamline.app.natsUrl, ["extensions", "remove", "competitor-mention", "v2"]),
        /removed/,
      );
      await waitForAnswer(
        "live back to the raw text",
        (s) => s.tenant === "live" && openAiText(s.answer).startsWith("Mock provider reply to: Acme"),
      );
      await waitForAnswer(
        "live-closed refused again",
        (s) => s.tenant === "live-closed" && s.answer.status === 503,
      );
    } finally {
      stop = true;
      await traffic;
    }
    assert.ok(sent.length < MAX_LIVE_REQUESTS, `the traffic bound was not hit (${sent.length})`);

    // Every answer agrees with what its request recorded.
    const verdicts = new Map<string, number>();
    for (const { tenant, answer } of sent) {
      const history = await settledHistory(beamline, tenant, answer.requestId);
      const outcome = extensionOutcomes(history).get("pre.0");
      const label = `${tenant}:${outcome?.verdict ?? "none"}:${outcome?.error?.code ?? ""}:${answer.status}`;
      verdicts.set(label, (verdicts.get(label) ?? 0) + 1);
      if (outcome?.verdict === "modify") {
        assert.equal(answer.status, 200, answer.text);
        assert.match(openAiText(answer), /^Mock provider reply to: another vendor /);
      } else if (tenant === "live" || outcome === undefined) {
        assert.equal(answer.status, 200, answer.text);
        assert.match(openAiText(answer), /^Mock provider reply to: Acme /);
      } else {
        assert.equal(answer.status, 503, answer.text);
        assert.equal(errorCode(answer), "BL_EXTENSION_UNAVAILABLE");
      }
    }
    for (const expected of [
      "live:none::200",
      "live:error:BL_EXTENSION_UNAVAILABLE:200",
      "live:modify::200",
      "live-closed:error:BL_EXTENSION_UNAVAILABLE:503",
      "live-closed:modify::200",
    ]) {
      assert.ok(verdicts.has(expected), `saw ${expected}: ${JSON.stringify([...verdicts])}`);
    }

    // No lost request: each accepted request has exactly one terminal event.
    for (const tenant of ["live", "live-closed"]) {
      const requestIds = new Set(sent.filter((s) => s.tenant === tenant).map((s) => s.answer.requestId));
      const accepted = await readEvents(beamline.nc, StreamNames.requests, `bl.req.${tenant}.*.accepted`);
      const terminals = await readEvents(beamline.nc, StreamNames.requests, `bl.req.${tenant}.*.terminal`);
      const perRequest = new Map<string, number>();
      for (const { event } of terminals)
        perRequest.set(event.requestId, (perRequest.get(event.requestId) ?? 0) + 1);
      for (const id of requestIds)
        assert.equal(perRequest.get(id), 1, `${tenant}/${id} has one terminal event`);
      // The key and policy probes also went through: every accepted request ended, once.
      assert.equal(
        terminals.length,
        accepted.length,
        `${tenant}: as many terminal events as accepted requests`,
      );
      assert.equal(perRequest.size, accepted.length);
    }
  });
});
