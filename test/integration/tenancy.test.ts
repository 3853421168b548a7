import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { keysIssue, keysList, keysRevoke, keysRotate } from "../../src/cli/commands/keys.js";
import { tenantsCreate, tenantsDisable, tenantsEnable, tenantsList } from "../../src/cli/commands/tenants.js";
import type { CommandOutput } from "../../src/cli/table.js";
import { loadConfig } from "../../src/config/index.js";
import { connectNats } from "../../src/nats/connect.js";
import { StreamNames } from "../../src/nats/names.js";
import { createLogger } from "../../src/observability/index.js";
import { type RunningBeamline, startBeamline } from "../../src/runtime/index.js";
import {
  hashApiKey,
  type IssuedKey,
  openTenancyAdmin,
  type TenancyAdmin,
  watchApiKeys,
} from "../../src/tenancy/index.js";
import {
  startTestBeamline,
  streamMessageCount,
  TEST_DEV_KEY,
  type TestBeamline,
} from "../support/beamline.js";
import { waitFor } from "../support/index.js";
import { signedStore, TEST_EVENT_SIGNING_KEY } from "../support/signing.js";

const ADMIN_TOKEN = "admin-token-for-tests-0123456789";
/** The acceptance bound: a change is seen by every gateway instance within this. */
const PROPAGATION_MS = 1_000;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Gateway A runs every role and the admin API; gateway B is a second, gateway-only instance. */
let a: TestBeamline;
let b: RunningBeamline;
let bLogs: string[];
let gateways: string[];
/** Every key issued below, in clear: none may be stored or logged anywhere. */
const issuedKeys: string[] = [];

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function admin(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN_TOKEN,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return call(`${a.baseUrl}/admin/v1${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

const errorCode = (answer: Answer) => (answer.body.error as { code?: string } | undefined)?.code;

/** What a gateway answers a key on an authenticated endpoint: 200, or the error code. */
async function verdict(baseUrl: string, key: string): Promise<string> {
  const answer = await call(`${baseUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  return answer.status === 200 ? "accepted" : `${answer.status} ${errorCode(answer)}`;
}

/** Waits until every gateway gives `expected` for `key`; returns how long that took. */
async function everyGateway(key: string, expected: string, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  await waitFor(
    async () => {
      const verdicts = await Promise.all(gateways.map((url) => verdict(url, key)));
      return verdicts.every((v) => v === expected);
    },
    { what: `${what}: every gateway to answer ${expected}`, timeoutMs, intervalMs: 25 },
  );
  return Date.now() - started;
}

async function issueOverHttp(tenant: string, body: Record<string, unknown> = {}): Promise<IssuedKey> {
  const answer = await admin("POST", `/tenants/${tenant}/keys`, body);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const issued = answer.body as unknown as IssuedKey;
  issuedKeys.push(issued.key);
  return issued;
}

function captureOutput(): CommandOutput & { text: () => string } {
  const chunks: string[] = [];
  return { out: (t) => chunks.push(t), note: (t) => chunks.push(t), text: () => chunks.join("") };
}

/** Every stored message of a stream (subject, headers, data) as bytes. */
async function rawMessages(nc: NatsConnection, stream: string): Promise<Buffer[]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const out: Buffer[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const msg = await jsm.direct.getMessage(stream, { seq });
    if (!msg) continue;
    const headers = msg.header ? [...msg.header.keys()].map((k) => `${k}: ${msg.header.get(k)}`) : [];
    out.push(Buffer.concat([Buffer.from(`${msg.subject}\n${headers.join("\n")}\n`), Buffer.from(msg.data)]));
  }
  return out;
}

describe("tenants and API keys", { timeout: 90_000 }, () => {
  before(async () => {
    a = await startTestBeamline({ adminToken: ADMIN_TOKEN });
    bLogs = [];
    const sink = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        bLogs.push(chunk.toString());
        done();
      },
    });
    const config = loadConfig({
      httpPort: 0,
      natsUrl: a.server.url,
      roles: ["gateway"],
      devKey: TEST_DEV_KEY,
      logLevel: "debug",
      instanceId: "gateway-b",
      metrics: { port: 0 },
      // One deployment: gateway b signs its admin writes with the key a's projectors check.
      eventSigning: { key: TEST_EVENT_SIGNING_KEY },
      openai: {},
      mock: {},
      provider: {},
    });
    b = await startBeamline(config, { log: createLogger({ level: "debug", destination: sink }) });
    gateways = [a.baseUrl, b.httpUrl!];
    const created = await admin("POST", "/tenants", { id: "acme", name: "Acme Corp" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  describe("admin API", () => {
    it("refuses a missing or wrong token, and a tenant key, with 401 in the OpenAI error shape", async () => {
      for (const token of [null, "not-the-admin-token-at-all", TEST_DEV_KEY]) {
        const answer = await admin("GET", "/tenants", undefined, token);
        assert.equal(answer.status, 401);
        assert.deepEqual(answer.body, {
          error: {
            message: "The admin API needs `Authorization: Bearer <BEAMLINE_ADMIN_TOKEN>`.",
            type: "authentication_error",
            param: null,
            code: "BL_ADMIN_UNAUTHORIZED",
          },
        });
      }
    });

    it("is not mounted on an instance without BEAMLINE_ADMIN_TOKEN", async () => {
      const answer = await call(`${b.httpUrl}/admin/v1/tenants`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(answer.status, 404);
      assert.equal(errorCode(answer), "BL_NOT_FOUND");
    });

    it("creates, lists and reads tenants, and refuses duplicates and bad ids", async () => {
      assert.equal(errorCode(await admin("POST", "/tenants", { id: "acme" })), "BL_TENANT_EXISTS");
      const bad = await admin("POST", "/tenants", { id: "no.dots" });
      assert.equal(bad.status, 400);
      assert.equal(errorCode(bad), "BL_BAD_REQUEST");
      assert.equal((bad.body.error as { param: string }).param, "id");
      assert.equal(errorCode(await admin("POST", "/tenants", { id: "x", nmae: "typo" })), "BL_BAD_REQUEST");
      const listed = await waitFor(
        async () => {
          const list = (await admin("GET", "/tenants")).body.data as Array<{ id: string; name: string }>;
          return list.find((t) => t.id === "acme");
        },
        { what: "tenant acme to be listed" },
      );
      assert.equal(listed.name, "Acme Corp");
      assert.equal((await admin("GET", "/tenants/acme")).body.status, "active");
      const missing = await admin("GET", "/tenants/ghost");
      assert.equal(missing.status, 404);
      assert.equal(errorCode(missing), "BL_TENANT_NOT_FOUND");
      assert.equal(errorCode(await admin("POST", "/tenants/ghost/keys", {})), "BL_TENANT_NOT_FOUND");
    });

    it("issues a key shown once, then lists it by prefix without the key or its hash", async () => {
      const issued = await issueOverHttp("acme", {
        label: "ci",
        models: ["fast"],
        limits: { requestsPerMinute: 60 },
        expiresInSeconds: 86_400,
      });
      assert.match(issued.key, /^bl-[A-Za-z0-9_-]{43}$/);
      assert.equal(issued.prefix, issued.key.slice(0, 7));
      assert.equal(issued.status, "active");
      const listing = await waitFor(
        async () => {
          const answer = await admin("GET", "/tenants/acme/keys");
          const data = answer.body.data as Array<{ keyId: string }>;
          return data.some((k) => k.keyId === issued.keyId) ? answer : undefined;
        },
        { what: "the issued key to be listed" },
      );
      const text = JSON.stringify(listing.body);
      assert.equal(text.includes(issued.key), false, "the key is in a listing");
      assert.equal(text.includes(hashApiKey(issued.key)), false, "the key's hash is in a listing");
      const listed = (listing.body.data as Array<Record<string, unknown>>).find(
        (k) => k.keyId === issued.keyId,
      )!;
      assert.deepEqual(
        {
          label: listed.label,
          models: listed.models,
          limits: listed.limits,
          status: listed.status,
          prefix: listed.prefix,
        },
        {
          label: "ci",
          models: ["fast"],
          limits: { requestsPerMinute: 60, spendWindow: "calendar" },
          status: "active",
          prefix: issued.prefix,
        },
      );
      assert.equal(errorCode(await admin("POST", "/keys/key_nope/revoke")), "BL_API_KEY_NOT_FOUND");
    });

    it("gives a worker on its own connection the key's limits by key id, live", async () => {
      const nc = await connectNats({ servers: [a.server.url], name: "worker-view" });
      const cache = await watchApiKeys(nc, createLogger({ level: "silent" }));
      try {
        await cache.ready;
        const issued = await issueOverHttp("acme", {
          limits: { concurrentRequests: 2, spendPerDayUsd: 1.5 },
        });
        const record = await waitFor(() => cache.lookupBy(issued.keyId), {
          what: "the key to reach a second connection's cache",
          timeoutMs: PROPAGATION_MS,
        });
        assert.deepEqual(record.limits, {
          concurrentRequests: 2,
          spendPerDayUsd: 1.5,
          spendWindow: "calendar",
        });
        assert.equal(cache.get(hashApiKey(issued.key))?.keyId, issued.keyId);
        await admin("POST", `/keys/${issued.keyId}/revoke`);
        await waitFor(() => cache.lookupBy(issued.keyId)?.status === "revoked", {
          what: "the revocation to reach a second connection's cache",
          timeoutMs: PROPAGATION_MS,
        });
      } finally {
        cache.stop();
        await nc.close();
      }
    });
  });

  describe("key lifecycle on every instance", () => {
    it("refuses a revoked key within 1 s on both gateways", async () => {
      const issued = await issueOverHttp("acme", { label: "to-revoke" });
      await everyGateway(issued.key, "accepted", 5_000, "a new key");
      const revoked = await admin("POST", `/keys/${issued.keyId}/revoke`);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.status, "revoked");
      const tookMs = await everyGateway(
        issued.key,
        "401 BL_INVALID_API_KEY",
        PROPAGATION_MS,
        "a revoked key",
      );
      assert.ok(tookMs <= PROPAGATION_MS, `took ${tookMs} ms`);
    });

    it("refuses an expired key within 1 s of its expiry on both gateways, with no event", async () => {
      const issued = await issueOverHttp("acme", { label: "short-lived", expiresInSeconds: 2 });
      const expiresAtMs = Date.parse(issued.expiresAt!);
      await everyGateway(issued.key, "accepted", 1_500, "a key before its expiry");
      const configBefore = await streamMessageCount(a.nc, StreamNames.config);
      await everyGateway(
        issued.key,
        "401 BL_API_KEY_EXPIRED",
        Math.max(0, expiresAtMs - Date.now()) + PROPAGATION_MS,
        "an expired key",
      );
      assert.ok(Date.now() <= expiresAtMs + PROPAGATION_MS);
      assert.equal(await streamMessageCount(a.nc, StreamNames.config), configBefore, "expiry wrote an event");
    });

    it("refuses a disabled tenant's keys within 1 s (403), and accepts them again once enabled", async () => {
      assert.equal((await admin("POST", "/tenants", { id: "globex" })).status, 201);
      const issued = await issueOverHttp("globex");
      await everyGateway(issued.key, "accepted", 5_000, "a new key");
      const disabled = await admin("POST", "/tenants/globex/disable", { reason: "unpaid invoice" });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.status, "disabled");
      await everyGateway(issued.key, "403 BL_TENANT_DISABLED", PROPAGATION_MS, "a disabled tenant's key");
      assert.equal((await admin("POST", "/tenants/globex/enable")).status, 200);
      await everyGateway(issued.key, "accepted", PROPAGATION_MS, "an enabled tenant's key");
    });

    it("rotates a key: the new key works at once, the old one until its grace period ends", async () => {
      const old = await issueOverHttp("acme", { label: "rotating", models: ["fast"] });
      await everyGateway(old.key, "accepted", 5_000, "the key to rotate");
      const rotated = await admin("POST", `/keys/${old.keyId}/rotate`, { graceSeconds: 3 });
      assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
      const { issued, replaced } = rotated.body as unknown as {
        issued: IssuedKey;
        replaced: Record<string, string>;
      };
      issuedKeys.push(issued.key);
      assert.equal(issued.rotatedFrom, old.keyId);
      assert.deepEqual(issued.models, ["fast"], "the scope is carried over");
      assert.equal(issued.label, "rotating");
      assert.equal(replaced.status, "grace");
      assert.equal(replaced.replacedBy, issued.keyId);
      await everyGateway(issued.key, "accepted", PROPAGATION_MS, "the new key");
      const graceEndsMs = Date.parse(replaced.revokedAt!);
      if (Date.now() < graceEndsMs - 500) {
        for (const url of gateways)
          assert.equal(await verdict(url, old.key), "accepted", "old key in its grace period");
      }
      assert.equal(errorCode(await admin("POST", `/keys/${old.keyId}/rotate`, {})), "BL_API_KEY_NOT_ACTIVE");
      await everyGateway(
        old.key,
        "401 BL_INVALID_API_KEY",
        Math.max(0, graceEndsMs - Date.now()) + PROPAGATION_MS,
        "the rotated key after its grace",
      );
      assert.equal(await verdict(a.baseUrl, issued.key), "accepted");
    });

    it("refuses a model outside the key's scope with 403 before anything is published", async () => {
      const issued = await issueOverHttp("acme", { models: ["fast"] });
      await everyGateway(issued.key, "accepted", 5_000, "a scoped key");
      const chat = (url: string, model: string) =>
        call(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${issued.key}`, "content-type": "application/json" },
          body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
        });
      const before = await streamMessageCount(a.nc, StreamNames.requests);
      for (const url of gateways) {
        const refused = await chat(url, "mock-large");
        assert.equal(refused.status, 403);
        assert.equal(errorCode(refused), "BL_MODEL_NOT_ALLOWED");
        assert.equal((refused.body.error as { param: string }).param, "model");
      }
      assert.equal(
        await streamMessageCount(a.nc, StreamNames.requests),
        before,
        "a refused request was published",
      );
      const allowed = await chat(a.baseUrl, "mock-small");
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    });
  });

  describe("CLI commands", () => {
    let tenancy: TenancyAdmin;
    before(async () => {
      tenancy = await openTenancyAdmin(signedStore(a.nc));
    });

    it("create, list, disable and enable tenants, as tables or JSON", async () => {
      const created = captureOutput();
      await tenantsCreate(tenancy, "initech", { name: "Initech" }, created);
      assert.match(created.text(), /^TENANT\s+NAME\s+STATUS/m);
      assert.match(created.text(), /^initech\s+Initech\s+active/m);
      const listed = await waitFor(
        async () => {
          const out = captureOutput();
          const tenants = await tenantsList(tenancy, { json: true }, out);
          return tenants.some((t) => t.id === "initech") ? out.text() : undefined;
        },
        { what: "initech in `tenants list`" },
      );
      assert.ok((JSON.parse(listed) as Array<{ id: string }>).some((t) => t.id === "acme"));
      const disabled = captureOutput();
      await tenantsDisable(tenancy, "initech", { reason: "audit" }, disabled);
      assert.match(disabled.text(), /initech\s+Initech\s+disabled\s+\S+\s+audit/);
      const enabled = captureOutput();
      await tenantsEnable(tenancy, "initech", { json: true }, enabled);
      assert.equal((JSON.parse(enabled.text()) as { status: string }).status, "active");
      await assert.rejects(tenantsCreate(tenancy, "initech", {}, captureOutput()), /already exists/);
    });

    it("issue prints the key once; list, rotate and revoke never print it", async () => {
      const out = captureOutput();
      const issued = await keysIssue(
        tenancy,
        { tenant: "initech", label: "cli", model: ["fast,mock-large"], limits: '{"requestsPerMinute":5}' },
        out,
      );
      issuedKeys.push(issued.key);
      assert.equal(out.text().split("\n")[0], issued.key, "the key alone on the first line");
      assert.deepEqual(issued.models, ["fast", "mock-large"]);
      await everyGateway(issued.key, "accepted", 5_000, "a key issued by the CLI");

      const listing = await waitFor(
        async () => {
          const listOut = captureOutput();
          const keys = await keysList(tenancy, { tenant: "initech" }, listOut);
          return keys.some((k) => k.keyId === issued.keyId) ? listOut.text() : undefined;
        },
        { what: "the CLI key in `keys list`" },
      );
      assert.match(listing, new RegExp(`${issued.keyId}\\s+initech\\s+${issued.prefix}…\\s+cli\\s+active`));
      assert.equal(listing.includes(issued.key), false);

      const rotateOut = captureOutput();
      const rotated = await keysRotate(tenancy, issued.keyId, { grace: "0" }, rotateOut);
      issuedKeys.push(rotated.issued.key);
      assert.equal(rotateOut.text().split("\n")[0], rotated.issued.key);
      await everyGateway(issued.key, "401 BL_INVALID_API_KEY", PROPAGATION_MS, "a key rotated with no grace");
      await everyGateway(rotated.issued.key, "accepted", PROPAGATION_MS, "its replacement");

      const revokeOut = captureOutput();
      await keysRevoke(tenancy, rotated.issued.keyId, { json: true }, revokeOut);
      assert.equal((JSON.parse(revokeOut.text()) as { status: string }).status, "revoked");
      assert.equal(revokeOut.text().includes(rotated.issued.key), false);
      await everyGateway(
        rotated.issued.key,
        "401 BL_INVALID_API_KEY",
        PROPAGATION_MS,
        "a key revoked by the CLI",
      );
      await assert.rejects(
        keysIssue(tenancy, { tenant: "initech", limits: "{nope" }, captureOutput()),
        /limits/,
      );
    });
  });

  describe("secrets", () => {
    it("never stores or logs an issued key in clear: not in any stream, KV bucket or log line", async () => {
      assert.ok(issuedKeys.length >= 8, `only ${issuedKeys.length} keys were issued`);
      const jsm = await jetstreamManager(a.nc);
      const streams: string[] = [];
      for await (const name of jsm.streams.names()) streams.push(name);
      assert.ok(
        streams.includes(StreamNames.config) &&
          streams.includes("KV_bl_apikeys") &&
          streams.includes("KV_bl_tenants"),
      );
      const stored = (await Promise.all(streams.map((stream) => rawMessages(a.nc, stream)))).flat();
      const everything = Buffer.concat(stored);
      assert.ok(everything.includes(hashApiKey(issuedKeys[0]!)), "the scan reads the stored hashes");
      const logs = a.logs() + bLogs.join("");
      assert.match(logs, /Beamline is running/, "logs were captured");
      for (const key of issuedKeys) {
        assert.equal(everything.includes(key), false, `a key (${key.slice(0, 7)}…) is stored in clear`);
        assert.equal(logs.includes(key), false, `a key (${key.slice(0, 7)}…) is in the logs`);
      }
    });
  });
});
