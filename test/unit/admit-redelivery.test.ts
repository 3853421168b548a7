import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BeamlineError } from "../../src/errors/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import {
  type ExtensionReply,
  type ExternalExtensionCaller,
  staticResolver,
} from "../../src/extensions/index.js";
import { createMetrics } from "../../src/observability/index.js";
import { policyDocumentSchema, type VersionedPolicy } from "../../src/routing/policy/document.js";
import { admit } from "../../src/stages/admit.js";
import type { AcceptedEvent, WorkerDeps } from "../../src/stages/context.js";
import { VirtualClock } from "../support/index.js";

/**
 * Given a request whose first delivery stored its extension outcomes and crashed before
 * ending the request, when it is delivered again, then a stored rejection stands: the
 * request is refused with it, whatever the extension would answer now.
 */

const NOW = new Date("2026-01-01T00:00:00Z");

/** Write-once slots in memory, like the request stream's `once` appends. */
function memoryStore() {
  const slots = new Map<string, BeamlineEvent>();
  let reads = 0;
  return {
    slots,
    reads: () => reads,
    async append(subject: string, event: BeamlineEvent) {
      const stored = slots.get(subject);
      if (stored) return { duplicate: true, seq: 1, stored };
      slots.set(subject, event);
      return { duplicate: false };
    },
    async readLast(_stream: string, subject: string) {
      reads += 1;
      return slots.get(subject);
    },
  };
}

/** An external extension whose answers the test scripts, one per call. */
function scriptedExtension(answers: Array<ExtensionReply | BeamlineError>) {
  let calls = 0;
  const caller: ExternalExtensionCaller = {
    async call() {
      const answer = answers[calls] ?? answers.at(-1);
      calls += 1;
      if (answer instanceof BeamlineError) throw answer;
      return answer as ExtensionReply;
    },
  };
  return { caller, calls: () => calls };
}

function depsWith(store: ReturnType<typeof memoryStore>, external: ExternalExtensionCaller): WorkerDeps {
  return {
    store,
    clock: new VirtualClock(NOW.getTime()),
    metrics: createMetrics({ defaultMetrics: false }),
    tenants: { get: () => undefined },
    extensions: {
      resolver: staticResolver([{ name: "guard", version: "v1", stages: ["validate"], contract: 1 }]),
      external,
    },
  } as unknown as WorkerDeps;
}

function policyWith(failureMode: "fail-open" | "fail-closed"): VersionedPolicy {
  return {
    tenant: "acme",
    version: 1,
    document: policyDocumentSchema.parse({
      pipeline: { validate: [{ name: "guard", version: "v1", timeoutMs: 50, failureMode }] },
    }),
  };
}

const accepted: AcceptedEvent = makeEvent(
  "request.accepted",
  "req_1:accepted",
  { tenant: "acme", requestId: "req_1", correlationId: "req_1" },
  {
    request: { model: "mock-small", messages: [{ role: "user", content: "hello" }] },
    frontDoor: "nats",
    stream: false,
  },
  NOW,
);

const timeout = new BeamlineError("BL_EXTENSION_TIMEOUT", "extension guard/v1 did not answer within 50 ms");
const allow: ExtensionReply = { contract: 1, verdict: "allow" };
const reject: ExtensionReply = { contract: 1, verdict: "reject", reason: "no" };

describe("admit on a redelivery", () => {
  it("refuses with the stored fail-closed timeout even though the extension now allows", async () => {
    const store = memoryStore();
    const extension = scriptedExtension([timeout, allow]);
    const deps = depsWith(store, extension.caller);
    const first = await admit(deps, accepted, policyWith("fail-closed"));
    assert.equal(first.kind, "refuse");
    // The worker crashed here, before storing request.failed; the request comes again.
    const again = await admit(deps, accepted, policyWith("fail-closed"), true);
    assert.ok(again.kind === "refuse", "a stored refusal stands");
    assert.equal(again.error.code, "BL_EXTENSION_TIMEOUT");
    assert.equal(again.stage, "validate");
    assert.equal(extension.calls(), 1, "the extension is not asked again");
  });

  it("refuses with a stored reject verdict", async () => {
    const store = memoryStore();
    const extension = scriptedExtension([reject, allow]);
    const deps = depsWith(store, extension.caller);
    await admit(deps, accepted, policyWith("fail-open"));
    const again = await admit(deps, accepted, policyWith("fail-open"), true);
    assert.ok(again.kind === "refuse");
    assert.equal(again.error.code, "BL_EXTENSION_REJECTED");
    assert.match(again.error.message, /guard\/v1.*no$/);
  });

  it("runs the steps again when the stored outcomes let the request through (fail-open error)", async () => {
    const store = memoryStore();
    const extension = scriptedExtension([timeout, allow]);
    const deps = depsWith(store, extension.caller);
    assert.equal((await admit(deps, accepted, policyWith("fail-open"))).kind, "continue");
    assert.equal((await admit(deps, accepted, policyWith("fail-open"), true)).kind, "continue");
    assert.equal(extension.calls(), 2);
  });

  it("reads no stored outcome on a first delivery", async () => {
    const store = memoryStore();
    const deps = depsWith(store, scriptedExtension([allow]).caller);
    assert.equal((await admit(deps, accepted, policyWith("fail-closed"))).kind, "continue");
    assert.equal(store.reads(), 0);
  });
});
