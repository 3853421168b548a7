import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type AuditLine, auditLineSchema } from "../../replay/index.js";
import {
  decodeEnvelope,
  type Envelope,
  encodeEvent,
  legacyApiKeySubject,
  makeEvent,
} from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { cleanEnv, runCli } from "../support/cli.js";

const ADMIN_TOKEN = "audit-export-e2e-admin-token-0123456789";
const TENANT = "acme";
/** Longer than any cut a listing might make: the export must carry it whole. */
const LONG_TEXT = `audit ${"0123456789".repeat(600)}`;

const parseLines = (text: string): AuditLine[] =>
  text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => auditLineSchema.parse(JSON.parse(line)));
const places = (lines: readonly { stream: string; seq: number }[]) =>
  lines.map((line) => `${line.stream}#${line.seq}`).sort();

/** Runs the CLI expecting failure; resolves with its exit code and stderr. */
async function runCliFailing(natsUrl: string, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: new URL("../../", import.meta.url),
      env: { ...cleanEnv(), NATS_URL: natsUrl },
      encoding: "utf8",
      timeout: 30_000,
    });
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
  throw new Error(`beamline ${args.join(" ")} succeeded; expected a failure`);
}

/**
 * `beamline audit export` and `GET /admin/v1/tenants/{id}/events` over a history made by real
 * requests of two tenants (plain, streamed, failed) and key events on both subject layouts.
 * The truth they are checked against is every stored message, read one by one.
 */
describe("tenant history export", { timeout: 300_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  /** Every stored event of the tenant's streams, with where it is stored. */
  let stored: Array<{ stream: string; seq: number; storedAt: string; envelope: Envelope }>;
  let expected: string[];
  let failedRequestId: string;
  let plainRequestId: string;

  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${beamline.baseUrl}/admin/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    });
  const chat = async (key: string, model: string, stream: boolean, content = "hello") => {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model, stream, messages: [{ role: "user", content }] }),
    });
    await response.text();
    return { status: response.status, requestId: response.headers.get("x-request-id") ?? "" };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-audit-"));
    const shipped = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as { models: unknown[] };
    const catalogFile = join(dir, "catalog.json");
    const broken = {
      id: "mock-broken",
      provider: "mock",
      upstreamModel: "mock-fault-400",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
    };
    await writeFile(catalogFile, JSON.stringify({ ...shipped, models: [...shipped.models, broken] }));
    beamline = await startTestBeamline({ adminToken: ADMIN_TOKEN, catalogFile });

    assert.equal(
      (await admin("/tenants", { method: "POST", body: JSON.stringify({ id: TENANT }) })).status,
      201,
    );
    // A limit, so admission reserves and billing settles quota: BL_QUOTA holds the tenant's facts too.
    const issued = await admin(`/tenants/${TENANT}/keys`, {
      method: "POST",
      body: JSON.stringify({ limits: { requestsPerMinute: 1000 } }),
    });
    const { key } = (await issued.json()) as { key: string };

    // Key events as history written before they were tenant-scoped: one of each tenant.
    const js = jetstream(beamline.nc);
    for (const tenant of [TENANT, "dev"]) {
      const keyId = `key_legacy_${tenant}`;
      const event = makeEvent(
        "apikey.issued",
        `apikey.issued:${keyId}`,
        { tenant, requestId: "", correlationId: keyId },
        { keyId, keyHash: (tenant === "dev" ? "d" : "a").repeat(64), keyPrefix: "bl-legacy" },
        new Date(),
      );
      const encoded = encodeEvent(event);
      const h = natsHeaders();
      for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
      await js.publish(legacyApiKeySubject(keyId), encoded.payload, { headers: h });
    }
    // Revoking a legacy key by id works, and writes the revocation on the tenant-scoped subject.
    assert.equal(
      (await admin(`/keys/key_legacy_${TENANT}/revoke`, { method: "POST", body: "{}" })).status,
      200,
    );

    const plain = await chat(key, "mock-small", false, LONG_TEXT);
    assert.equal(plain.status, 200);
    plainRequestId = plain.requestId;
    assert.equal((await chat(key, "mock-small", true)).status, 200);
    const failed = await chat(key, "mock-broken", false);
    assert.equal(failed.status, 400);
    failedRequestId = failed.requestId;
    assert.equal((await chat(beamline.devKey, "mock-small", false)).status, 200);
    assert.equal((await chat(beamline.devKey, "mock-small", true)).status, 200);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.quota, ConsumerNames.quotaProjector);

    const jsm = await jetstreamManager(beamline.nc);
    stored = [];
    for (const stream of [StreamNames.requests, StreamNames.quota, StreamNames.usage, StreamNames.config]) {
      const { state } = await jsm.streams.info(stream);
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const msg = await jsm.direct.getMessage(stream, { seq });
        if (!msg) continue;
        stored.push({
          stream,
          seq,
          storedAt: msg.time.toISOString(),
          envelope: decodeEnvelope(msg.data, msg.header),
        });
      }
    }
    const tenantTypes = /^(request|route|attempt|extension|quota|usage|tenant|apikey|policy)\./;
    expected = places(
      stored.filter((s) => s.envelope.tenant === TENANT && tenantTypes.test(s.envelope.type)),
    );
  });
  after(async () => {
    await beamline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const exportCli = async (...args: string[]) =>
    parseLines(await runCli(beamline.app.natsUrl, ["audit", "export", "--tenant", TENANT, ...args]));

  it("exports every event of the tenant from every stream and none of another tenant's", async () => {
    const lines = await exportCli();
    assert.deepEqual(places(lines), expected);
    assert.ok(lines.every((line) => line.ids.tenant === TENANT));
    const streams = new Set(lines.map((line) => line.stream));
    assert.deepEqual([...streams].sort(), ["BL_CONFIG", "BL_QUOTA", "BL_REQUESTS", "BL_USAGE"]);
    const subjects = lines.map((line) => line.subject);
    assert.ok(subjects.includes(legacyApiKeySubject(`key_legacy_${TENANT}`)), "the legacy key event");
    assert.ok(!subjects.includes(legacyApiKeySubject("key_legacy_dev")), "no other tenant's legacy key");
    assert.ok(subjects.some((s) => s.startsWith(`bl.cfg.apikey.${TENANT}.key_legacy_${TENANT}`)));
  });

  it("orders each stream by sequence and all streams by store time", async () => {
    const lines = await exportCli();
    for (let i = 1; i < lines.length; i++) {
      assert.ok(lines[i - 1]!.storedAt <= lines[i]!.storedAt, `line ${i} is stored before line ${i - 1}`);
    }
    for (const stream of new Set(lines.map((line) => line.stream))) {
      const seqs = lines.filter((line) => line.stream === stream).map((line) => line.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
    }
  });

  it("carries the data whole: the request's long message is not cut", async () => {
    const lines = await exportCli("--request", plainRequestId, "--types", "request.accepted");
    assert.equal(lines.length, 1);
    // The line's `data` is the event as stored (its request sealed); the export opens the
    // content with the master key into `content.data`, whole.
    const line = lines[0]!;
    assert.equal((line.data as { request?: unknown }).request, undefined, "the stored data holds no prompt");
    assert.equal((line.data as { atRest?: { mode: string } }).atRest?.mode, "encrypted");
    assert.equal(line.content?.state, "decrypted");
    const opened = line.content?.data as { request: { messages: Array<{ content: string }> } } | undefined;
    assert.equal(opened?.request.messages[0]?.content, LONG_TEXT);
  });

  it("keeps only the asked types, and only the asked request's events", async () => {
    const failures = await exportCli("--types", "request.failed");
    assert.deepEqual(
      failures.map((line) => line.ids.request),
      [failedRequestId],
    );
    const one = await exportCli("--request", failedRequestId);
    assert.ok(one.length >= 3);
    assert.ok(one.every((line) => line.ids.request === failedRequestId));
    assert.deepEqual(
      places(one),
      places(stored.filter((s) => s.envelope.tenant === TENANT && s.envelope.requestId === failedRequestId)),
    );
  });

  it("bounds the export by store time with --since and --until", async () => {
    const all = await exportCli();
    const middle = all[Math.floor(all.length / 2)]!.storedAt;
    const since = await exportCli("--since", middle);
    assert.deepEqual(places(since), places(all.filter((line) => line.storedAt >= middle)));
    const until = await exportCli("--until", middle);
    assert.deepEqual(places(until), places(all.filter((line) => line.storedAt <= middle)));
    assert.ok(since.length > 0 && since.length < all.length);
  });

  it("writes to --out and tells the count on stderr", async () => {
    const out = join(dir, "acme.jsonl");
    assert.equal(
      await runCli(beamline.app.natsUrl, ["audit", "export", "--tenant", TENANT, "--out", out]),
      "",
    );
    assert.deepEqual(places(parseLines(await readFile(out, "utf8"))), expected);
  });

  it("serves the same export as NDJSON on the admin API, behind the admin token", async () => {
    const response = await admin(`/tenants/${TENANT}/events`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    assert.deepEqual(places(parseLines(await response.text())), expected);

    const failures = await admin(`/tenants/${TENANT}/events?types=request.failed&since=2000-01-01`);
    assert.deepEqual(
      parseLines(await failures.text()).map((line) => line.ids.request),
      [failedRequestId],
    );
    const anonymous = await fetch(`${beamline.baseUrl}/admin/v1/tenants/${TENANT}/events`);
    assert.equal(anonymous.status, 401);
  });

  it("answers bad parameters on the admin API with 400 and a BL code", async () => {
    for (const [path, status, code] of [
      [`/tenants/${TENANT}/events?since=yesterday`, 400, "BL_BAD_REQUEST"],
      [`/tenants/${TENANT}/events?types=nope`, 400, "BL_BAD_REQUEST"],
      [`/tenants/${TENANT}/events?colour=red`, 400, "BL_BAD_REQUEST"],
      ["/tenants/a*b/events", 400, "BL_INVALID_TENANT_ID"],
      ["/tenants/nobody/events", 404, "BL_TENANT_NOT_FOUND"],
    ] as const) {
      const response = await admin(path);
      assert.equal(response.status, status, path);
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, code, path);
    }
  });

  it("refuses bad CLI input with exit code 1 and a BL code", async () => {
    const url = beamline.app.natsUrl;
    const badSince = await runCliFailing(url, [
      "audit",
      "export",
      "--tenant",
      TENANT,
      "--since",
      "last week",
    ]);
    assert.equal(badSince.code, 1);
    assert.match(badSince.stderr, /^beamline: --since .*\[BL_BAD_REQUEST\]$/m);
    const badTenant = await runCliFailing(url, ["audit", "export", "--tenant", "acme.corp"]);
    assert.equal(badTenant.code, 1);
    assert.match(badTenant.stderr, /\[BL_INVALID_TENANT_ID\]/);
    const unknown = await runCliFailing(url, ["audit", "export", "--tenant", "nobody"]);
    assert.match(unknown.stderr, /\[BL_TENANT_NOT_FOUND\]/);
  });

  it("shows one request as a timeline, and its full events with --json", async () => {
    const text = await runCli(beamline.app.natsUrl, ["requests", "show", TENANT, failedRequestId]);
    const [header, ...rows] = text.trimEnd().split("\n");
    assert.match(header!, /^offset\s+duration\s+step\s+provider\/model\s+tokens\s+cost \(USD\)\s+outcome/);
    assert.match(rows[0]!, /^\+0 ms .*accepted/);
    assert.ok(
      rows.some((row) => /attempt 1 .*mock\/mock-broken .*BL_PROVIDER_BAD_REQUEST/.test(row)),
      text,
    );
    assert.ok(
      rows.some((row) => /failed/.test(row)),
      text,
    );
    const json = parseLines(
      await runCli(beamline.app.natsUrl, ["requests", "show", TENANT, plainRequestId, "--json"]),
    );
    assert.ok(json.some((line) => line.type === "usage.recorded"));
    assert.ok(json.every((line) => line.ids.request === plainRequestId));
  });
});
