import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { verifyProjections } from "../../replay/index.js";
import { KvBuckets, StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { waitFor } from "../support/index.js";
import { signedStore } from "../support/signing.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

/**
 * Every KV projection (API keys, tenants, policies, catalog, quotas) is rebuilt from its
 * stream by the same reducers the live projectors use: on an idle system the replay equals
 * KV, a damaged entry is reported (never an API key hash, only its key id), and `--rebuild`
 * puts the replay back.
 */
describe("projections verify and rebuild", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  let projectorsIdle: () => Promise<void>;
  before(async () => {
    beamline = await startTestBeamline();
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    await admin.createTenant({ id: "acme", name: "Acme" });
    await admin.issueKey("acme", { label: "ci" });
    await admin.disableTenant("acme", {});
    // Limits make admission write quota facts, so the quota projection has something to hold.
    await publishPolicy(store, "dev", { limits: { requestsPerMinute: 1000 } }, new Date());
    await waitFor(
      async () => {
        const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hi" }] }),
        });
        await response.text();
        const kv = await new Kvm(beamline.nc).open(KvBuckets.quota);
        return (await kv.get("dev"))?.operation === "PUT";
      },
      { what: "a quota record for the dev tenant", timeoutMs: 20_000 },
    );
    projectorsIdle = async () => {
      for (const [stream, consumer] of [
        [StreamNames.config, "projector-apikeys"],
        [StreamNames.config, "projector-tenants"],
        [StreamNames.config, "projector-config-documents"],
        [StreamNames.quota, "projector-quotas"],
        [StreamNames.requests, "billing"],
        [StreamNames.usage, "projector-spend"],
      ] as const) {
        await waitForConsumerCaughtUp(beamline.nc, stream, consumer);
      }
    };
    await projectorsIdle();
  });
  after(() => beamline?.stop());

  it("finds every projection equal to its replay on an idle system", async () => {
    const checks = await verifyProjections(beamline.nc);
    assert.deepEqual(
      checks.map((c) => c.name),
      ["api keys", "tenants", "policies", "catalog", "quotas", "spend"],
    );
    for (const check of checks) {
      assert.deepEqual(check.differing, [], `${check.name}: ${JSON.stringify(check)}`);
      assert.ok(check.replayed > 0, `${check.name} replayed something`);
    }
  });

  it("reports a damaged entry, and --rebuild restores the replay", async () => {
    const kvm = new Kvm(beamline.nc);
    const tenants = await kvm.open(KvBuckets.tenants);
    await tenants.put("acme", new TextEncoder().encode(JSON.stringify({ tenant: "acme", status: "active" })));
    const keys = await kvm.open(KvBuckets.apiKeys);
    let someKey = "";
    for await (const key of await keys.keys()) {
      someKey = key;
      break;
    }
    await keys.delete(someKey);
    const spend = await kvm.open(KvBuckets.spend);
    let spendKey = "";
    for await (const key of await spend.keys("dev.>")) spendKey = key;
    const cell = JSON.parse(new TextDecoder().decode((await spend.get(spendKey))!.value)) as {
      costNanoUsd: number;
    };
    await spend.put(
      spendKey,
      new TextEncoder().encode(JSON.stringify({ ...cell, costNanoUsd: cell.costNanoUsd + 1 })),
    );

    const damaged = await verifyProjections(beamline.nc);
    const byName = new Map(damaged.map((c) => [c.name, c]));
    assert.deepEqual(byName.get("tenants")?.differing, ["acme"]);
    const apiKeys = byName.get("api keys")!;
    assert.equal(apiKeys.differing.length, 1);
    assert.match(apiKeys.differing[0]!, /^key key_[A-Za-z0-9_]+$/, "a key is named by its id");
    assert.ok(!apiKeys.differing[0]!.includes(someKey), "never by its hash");
    assert.deepEqual(byName.get("spend")?.differing, [spendKey], "an altered spend cell is found");

    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "projections", "verify", "--rebuild"],
      { cwd: REPO_ROOT, env: { ...process.env, NATS_URL: beamline.server.url } },
    );
    assert.match(stdout, /rebuilt: KV now holds the replay/);
    const after = await verifyProjections(beamline.nc);
    for (const check of after) assert.deepEqual(check.differing, [], `${check.name} after the rebuild`);
    const acme = JSON.parse(new TextDecoder().decode((await tenants.get("acme"))!.value)) as {
      status: string;
    };
    assert.equal(acme.status, "disabled", "the rebuilt record says what the log says");
  });
});
