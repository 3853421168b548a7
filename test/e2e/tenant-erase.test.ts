import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import OpenAI from "openai";
import { auditLineSchema } from "../../replay/index.js";
import { KvBuckets, readStream, StreamNames } from "../../src/nats/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { defaultMasterKeyFile } from "../../src/vault/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { waitFor } from "../support/wait.js";

/**
 * Issue 14, "Content at rest": a tenant's prompts are readable with the master key until the
 * tenant is erased; after `tenants erase` nothing can read them (CLI, export, the key bucket),
 * the tenant is refused, and billing and the audit chain still check out. The master key
 * appears in no log line, stored message or command output along the way.
 */
describe("erasing a tenant", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let masterKey: string;
  let keyEnv: Record<string, string>;
  let goneClient: OpenAI;
  const outputs: string[] = [];
  const marker = `erase-me-${randomUUID()}`;
  let requestId = "";

  const cli = async (args: string[]) => {
    const run = await runCliStatus(beamline.server.url, args, keyEnv);
    outputs.push(run.stdout, run.stderr);
    return run;
  };

  before(async () => {
    beamline = await startTestBeamline({
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
      contentAtRest: {},
    });
    // The master key generated into the data directory on first start, as a default setup has it.
    const keyFile = defaultMasterKeyFile(beamline.config.dataDir);
    masterKey = (await readFile(keyFile, "utf8")).trim();
    keyEnv = { BEAMLINE_MASTER_KEY: masterKey };
    // Signed, as `tenants create` writes it: the worker serves no tenant whose creation is unsigned.
    const admin = await openTenancyAdmin(beamline.store);
    await admin.createTenant({ id: "gone", name: "Leaving" });
    const key = (await admin.issueKey("gone", { label: "e2e" })).key;
    goneClient = new OpenAI({ baseURL: `${beamline.baseUrl}/v1`, apiKey: key, maxRetries: 0 });
    await waitFor(
      async () => {
        try {
          const { data, response } = await goneClient.chat.completions
            .create({ model: "mock-small", messages: [{ role: "user", content: `note ${marker}` }] })
            .withResponse();
          requestId = response.headers.get("x-request-id") ?? data.id;
          return true;
        } catch {
          return false; // the gateway's key view has not seen the new key yet
        }
      },
      { what: "the new tenant's first request to be served" },
    );
  });
  after(async () => beamline?.stop());

  it("shows the request's content with the master key before the erasure", async () => {
    const run = await cli(["requests", "show", "gone", requestId, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((line) => auditLineSchema.parse(JSON.parse(line)));
    const accepted = lines.find((line) => line.type === "request.accepted");
    assert.equal(accepted?.content?.state, "decrypted");
    assert.match(JSON.stringify(accepted?.content?.data), new RegExp(marker));
  });

  it("asks for confirmation, then destroys the key and records tenant.erased", async () => {
    const refused = await cli(["tenants", "erase", "gone"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--yes/);

    const run = await cli(["tenants", "erase", "gone", "--yes", "--json", "--reason", "customer left"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).keyDestroyed, true);

    const kv = await new Kvm(beamline.nc).open(KvBuckets.tenantKeys);
    const revisions = [];
    for await (const entry of await kv.history({ key: "gone" })) revisions.push(entry.string());
    assert.ok(revisions.length > 0);
    assert.ok(
      revisions.every((value) => !value.includes("wrapped")),
      "no revision holds the wrapped key",
    );

    const erased = [];
    for await (const message of readStream(beamline.nc, {
      stream: StreamNames.config,
      filters: ["bl.cfg.tenant.gone"],
    })) {
      if (message.headers?.get("bl-type") === "tenant.erased") erased.push(message);
    }
    assert.equal(erased.length, 1, "the erasure is itself in the log");
  });

  it("leaves the content unreadable to requests show and audit export, even with the master key", async () => {
    const shown = await cli(["requests", "show", "gone", requestId, "--json"]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!shown.stdout.includes(marker));
    const states = shown.stdout
      .trim()
      .split("\n")
      .map((line) => auditLineSchema.parse(JSON.parse(line)).content?.state)
      .filter(Boolean);
    assert.ok(states.length >= 3 && states.every((state) => state === "erased"), states.join(","));

    const table = await cli(["requests", "show", "gone", requestId]);
    assert.match(table.stdout, /content erased/);

    const verified = await cli(["decisions", "verify", "--tenant", "gone", "--json"]);
    assert.equal(verified.code, 0, verified.stderr);
    const summary = JSON.parse(verified.stdout.trim().split("\n").at(-1) ?? "{}");
    assert.equal(summary.unreadable, 1, "the erased request's decision is reported as not verifiable");
    assert.equal(summary.mismatched, 0);

    const exported = await cli(["audit", "export", "--tenant", "gone"]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(!exported.stdout.includes(marker));
    assert.match(exported.stdout, /"state":"erased"/);
    assert.match(exported.stdout, /"usage.recorded"/, "usage records stay");
  });

  it("refuses the erased tenant's new requests", async () => {
    await waitFor(
      async () => {
        try {
          await goneClient.chat.completions.create({
            model: "mock-small",
            messages: [{ role: "user", content: "hi" }],
          });
          return false;
        } catch (error) {
          return (error as { status?: number }).status === 403 && /erased/.test(String(error));
        }
      },
      { what: "the gateway to refuse the erased tenant" },
    );
  });

  it("keeps billing reconciling and the audit chain verifying", async () => {
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });

  it("never shows the master key in logs, stored messages or command output", async () => {
    assert.ok(!beamline.logs().includes(masterKey), "logs");
    assert.ok(
      outputs.every((text) => !text.includes(masterKey)),
      "CLI output",
    );
    for (const stream of Object.values(StreamNames)) {
      for await (const message of readStream(beamline.nc, { stream, filters: [">"] })) {
        assert.ok(
          !Buffer.from(message.data).toString("latin1").includes(masterKey),
          `${stream} #${message.seq}`,
        );
      }
    }
  });
});
