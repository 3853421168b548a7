import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { adminCredsPath, authFromCreds, authFromCredsFile } from "../../src/access/index.js";
import { loadConfig } from "../../src/config/index.js";
import { decodeEvent, ingressSubject, liveInboxPrefix } from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { connectNats } from "../../src/nats/index.js";
import { createLogger } from "../../src/observability/index.js";
import { startBeamline } from "../../src/runtime/index.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/index.js";
import { capturedLog } from "../support/captured-log.js";
import { runCli, TEST_MASTER_KEY } from "../support/cli.js";
import { waitFor } from "../support/index.js";
import { producerJsonHeaders, producerRequestEvent } from "../support/producer-events.js";
import { TEST_EVENT_SIGNING_KEY } from "../support/signing.js";
import { everyStoredMessage } from "../support/stored-messages.js";

// A producer issued by the CLI on a default (auth on) start gets NATS credentials that can do
// its job and nothing else, and its revocation closes its connection.
const DEV_KEY = "dev-key-for-the-producer-tests-0";
const temporary: string[] = [];
after(async () => {
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

describe("producer credentials with NATS auth on", { timeout: 120_000 }, () => {
  it("serves the producer on its own ingress, refuses it elsewhere, and revokes it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bl-producer-creds-"));
    temporary.push(dataDir);
    const logs = capturedLog();
    // The CLI runs with the test deployment's keys (test/support/cli.ts): so does this router.
    const app = await startBeamline(
      loadConfig({
        httpPort: 0,
        // The default port would collide with another test's router running at the same time.
        metrics: { port: 0 },
        devKey: DEV_KEY,
        dataDir,
        logLevel: "trace",
        eventSigning: { key: TEST_EVENT_SIGNING_KEY },
        contentAtRest: { masterKey: TEST_MASTER_KEY },
      }),
      { log: createLogger({ level: "trace", destination: logs }) },
    );
    try {
      const env = { BEAMLINE_DATA_DIR: dataDir, NATS_CREDS: adminCredsPath(dataDir) };
      const issued = JSON.parse(
        await runCli(app.natsUrl, ["producers", "issue", "--tenant", "dev", "--json"], env),
      ) as { producerId: string; credentials?: { creds?: string; credentialId?: string } };
      const creds = issued.credentials?.creds;
      assert.ok(creds, "with NATS auth on, the producer gets its credentials once");
      // The registry is a projection: the producer counts once it is projected.
      const listed = await waitFor(
        async () => {
          const text = await runCli(app.natsUrl, ["producers", "list", "--json"], env);
          return text.includes(issued.producerId) ? text : undefined;
        },
        { what: "the producer to be projected", timeoutMs: 15_000 },
      );
      assert.ok(!listed.includes(creds.split("\n")[1]!), "the listing never shows the secret");

      const errors: Error[] = [];
      const producer = await connectNats({
        servers: app.natsUrl,
        name: "producer",
        ...(await authFromCreds(creds)),
      });
      void (async () => {
        for await (const status of producer.status()) {
          if (status.type === "error") errors.push(status.error as Error);
        }
      })();
      const requestId = newRequestId();
      const inbox = `${liveInboxPrefix(issued.producerId)}${requestId}`;
      const terminal = new Promise<string>((resolve) => {
        producer.subscribe(inbox, {
          callback: (_error, msg) => {
            if (msg.headers?.get(LiveHeaders.kind) === LiveKinds.terminal) {
              resolve(decodeEvent(msg.data, msg.headers).type);
            }
          },
        });
      });
      const js = jetstream(producer, { timeout: 3_000 });
      const event = producerRequestEvent("dev", requestId, inbox);
      await js.publish(ingressSubject("dev", issued.producerId, requestId), JSON.stringify(event), {
        headers: producerJsonHeaders(),
      });
      assert.equal(await terminal, "request.completed");

      // The credentials are printed once and kept nowhere else: the user's nkey seed and JWT
      // are in no stored message of any stream or KV bucket, nor in the router's logs.
      const lines = creds.split("\n").map((line) => line.trim());
      const jwt = lines.find((line) => /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/.test(line));
      const seed = lines.find((line) => /^SU[A-Z0-9]{50,}$/.test(line));
      assert.ok(jwt && seed, "the creds hold a user JWT and seed");
      const admin = await connectNats({
        servers: app.natsUrl,
        name: "stored-message-scan",
        ...(await authFromCredsFile(adminCredsPath(dataDir))),
      });
      try {
        for (const [stream, messages] of await everyStoredMessage(admin)) {
          for (const message of messages) {
            assert.equal(message.includes(seed!), false, `the producer's seed is stored in ${stream}`);
            assert.equal(message.includes(jwt!), false, `the producer's JWT is stored in ${stream}`);
          }
        }
      } finally {
        await admin.close();
      }
      assert.equal(logs.text().includes(seed!), false, "the producer's seed is in the router's logs");

      // Another tenant's ingress, the request stream itself, and the config subjects: refused by
      // nats-server's permissions before anything is stored.
      for (const subject of [
        ingressSubject("victim", issued.producerId, newRequestId()),
        `bl.req.dev.${newRequestId()}.accepted`,
        "bl.cfg.apikey.dev.forged",
      ]) {
        await assert.rejects(js.publish(subject, JSON.stringify(event), { headers: producerJsonHeaders() }));
      }
      await waitFor(() => errors.some((e) => /permissions violation/i.test(String(e))) || undefined, {
        what: "the server to report the permission violations",
        timeoutMs: 5_000,
      });

      await runCli(app.natsUrl, ["producers", "revoke", issued.producerId], env);
      await waitFor(() => producer.isClosed() || undefined, {
        what: "the revoked producer to be disconnected",
        timeoutMs: 5_000,
      });
    } finally {
      await app.stop();
    }
  });
});
