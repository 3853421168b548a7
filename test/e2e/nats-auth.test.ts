import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import {
  adminCredsPath,
  authFromCreds,
  authFromCredsFile,
  mintCredential,
  openAuthority,
  permissionsFor,
  serverAuthConfig,
} from "../../src/access/index.js";
import { type BeamlineConfigInput, loadConfig, ROLES } from "../../src/config/index.js";
import { connectNats } from "../../src/nats/index.js";
import { createLogger } from "../../src/observability/index.js";
import { startBeamline, topologyOf } from "../../src/runtime/index.js";
import { applyTopology } from "../../streams/index.js";
import { runCli, runCliStatus } from "../support/cli.js";
import { startNatsServer, waitFor } from "../support/index.js";

const DEV_KEY = "dev-key-for-the-auth-tests-0123";
const temporary: string[] = [];
after(async () => {
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "bl-nats-auth-"));
  temporary.push(dir);
  return dir;
}

/** Starts every role in this process with `input`, serves one chat request, stops. */
async function serveOneRequest(input: BeamlineConfigInput): Promise<string> {
  const app = await startBeamline(
    loadConfig({ httpPort: 0, metrics: { port: 0 }, devKey: DEV_KEY, logLevel: "silent", ...input }),
    {
      log: createLogger({ level: "silent" }),
    },
  );
  try {
    const response = await fetch(`${app.httpUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Hello" }] }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    return body.choices[0]!.message.content;
  } finally {
    await app.stop();
  }
}

describe("NATS auth on by default", () => {
  it("runs the embedded nats-server with auth: an anonymous client is refused, the router serves", async () => {
    const dataDir = await tempDir();
    const app = await startBeamline(
      loadConfig({ httpPort: 0, metrics: { port: 0 }, devKey: DEV_KEY, dataDir, logLevel: "silent" }),
      {
        log: createLogger({ level: "silent" }),
      },
    );
    try {
      await assert.rejects(connect({ servers: app.natsUrl, reconnect: false }), /authorization violation/i);
      const response = await fetch(`${app.httpUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Hello" }] }),
      });
      assert.equal(response.status, 200);
      assert.equal((await stat(adminCredsPath(dataDir))).mode & 0o777, 0o600);

      // The operator issues a read-only auditor through the CLI, then revokes it.
      const env = { BEAMLINE_DATA_DIR: dataDir, NATS_CREDS: adminCredsPath(dataDir) };
      const credsFile = join(dataDir, "auditor.creds");
      const issued = JSON.parse(
        await runCli(
          app.natsUrl,
          ["credentials", "issue", "--role", "auditor", "--tenant", "dev", "--out", credsFile, "--json"],
          env,
        ),
      ) as { id: string; creds?: string };
      assert.equal(issued.creds, undefined, "with --out the secret is not printed");
      assert.equal((await stat(credsFile)).mode & 0o777, 0o600);
      const auditor = await connectNats({
        servers: app.natsUrl,
        name: "auditor",
        ...(await authFromCredsFile(credsFile)),
      });
      // With it, `audit export` reads its own tenant's history, time seek included, and none other.
      const auditorEnv = { BEAMLINE_DATA_DIR: dataDir, NATS_CREDS: credsFile };
      const since = new Date(Date.now() - 60_000).toISOString();
      const exported = (
        await runCli(app.natsUrl, ["audit", "export", "--tenant", "dev", "--since", since], auditorEnv)
      )
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as { type: string; ids: { tenant: string }; content?: { state: string } },
        );
      assert.ok(exported.some((line) => line.type === "request.accepted"));
      assert.ok(exported.every((line) => line.ids.tenant === "dev"));
      assert.ok(
        exported.filter((line) => line.content).every((line) => line.content?.state === "encrypted"),
        "without access to the tenant keys, content is reported sealed",
      );
      const foreign = await runCliStatus(app.natsUrl, ["audit", "export", "--tenant", "globex"], auditorEnv);
      assert.equal(foreign.code, 1, foreign.stderr);
      assert.match(foreign.stderr, /BL_NATS_PERMISSION_DENIED/);
      const listed = JSON.parse(await runCli(app.natsUrl, ["credentials", "list", "--json"], env)) as Array<{
        id: string;
        creds?: string;
      }>;
      assert.ok(listed.some((c) => c.id === issued.id));
      assert.ok(
        listed.every((c) => c.creds === undefined),
        "the list never holds a secret",
      );
      // The command returns once the server has the account update; the connection is closed by then
      // or moments after (the CLI's own start-up, seconds on a loaded machine, is not counted).
      await runCli(app.natsUrl, ["credentials", "revoke", issued.id], env);
      const started = performance.now();
      await waitFor(() => auditor.isClosed() || undefined, {
        what: "the revoked auditor to be disconnected",
        timeoutMs: 5_000,
      });
      assert.ok(performance.now() - started < 5_000);
      await assert.rejects(
        connect({ servers: app.natsUrl, reconnect: false, ...(await authFromCredsFile(credsFile)) }),
        /authorization violation/i,
      );
    } finally {
      await app.stop();
    }
  });

  it("keeps its NATS authority across restarts, and the admin credential with it", async () => {
    const dataDir = await tempDir();
    const before = await openAuthority(dataDir, { create: true });
    const firstAdmin = await readFile(adminCredsPath(dataDir), "utf8");
    const again = await openAuthority(dataDir, { create: true });
    assert.equal(before.created, true);
    assert.equal(again.created, false);
    assert.equal(again.authority.account.getPublicKey(), before.authority.account.getPublicKey());
    assert.equal(await readFile(adminCredsPath(dataDir), "utf8"), firstAdmin, "the admin credential is kept");
  });

  it("works against an external NATS with a creds file (operator mode)", async () => {
    const dataDir = await tempDir();
    const { authority } = await openAuthority(dataDir, { create: true });
    const server = await startNatsServer({ extraConfig: serverAuthConfig(authority, join(dataDir, "jwt")) });
    try {
      // The operator applies the topology; role processes hold no right to create streams.
      const admin = await connectNats({
        servers: server.url,
        name: "admin",
        ...(await authFromCredsFile(adminCredsPath(dataDir))),
      });
      await applyTopology(admin, topologyOf(loadConfig({})));
      await admin.close();
      const roles = [...ROLES];
      const issued = await mintCredential(authority, {
        roles,
        permissions: (inboxPrefix) => permissionsFor(roles, { inboxPrefix }),
      });
      assert.ok((await authFromCreds(issued.creds)).inboxPrefix);
      const credsFile = join(dataDir, "router.creds");
      await writeFile(credsFile, issued.creds, { mode: 0o600 });
      assert.match(await serveOneRequest({ natsUrl: server.url, natsCreds: credsFile, dataDir }), /Hello/);
    } finally {
      await server.stop();
    }
  });

  it("works against an external NATS with user and password", async () => {
    const server = await startNatsServer({
      extraConfig: 'authorization { user: "router", password: "pw-0123456789" }',
    });
    try {
      await assert.rejects(connect({ servers: server.url, reconnect: false }), /authorization violation/i);
      const input = {
        natsUrl: server.url,
        natsUser: "router",
        natsPassword: "pw-0123456789",
        dataDir: await tempDir(),
      };
      assert.match(await serveOneRequest(input), /Hello/);
    } finally {
      await server.stop();
    }
  });

  it("works against an external NATS with a token", async () => {
    const server = await startNatsServer({ extraConfig: 'authorization { token: "token-0123456789" }' });
    try {
      assert.match(
        await serveOneRequest({
          natsUrl: server.url,
          natsToken: "token-0123456789",
          dataDir: await tempDir(),
        }),
        /Hello/,
      );
    } finally {
      await server.stop();
    }
  });

  it("works against an external NATS without auth", async () => {
    const server = await startNatsServer();
    try {
      assert.match(await serveOneRequest({ natsUrl: server.url, dataDir: await tempDir() }), /Hello/);
    } finally {
      await server.stop();
    }
  });
});
