import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  adminCredsPath,
  authFromCreds,
  authFromCredsFile,
  mintCredential,
  mintProducerCredentials,
  type NatsAuthority,
  type NatsRole,
  openAuthority,
  permissionsFor,
  revokeNatsUser,
  serverAuthConfig,
} from "../../src/access/index.js";
import { connectNats } from "../../src/nats/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";

/**
 * Role permissions against a real nats-server in operator mode (the embedded server's
 * configuration): each role does its job and is refused outside it, with the server's own
 * permission errors.
 */
describe("NATS permissions per role (real nats-server, operator mode)", () => {
  let dataDir: string;
  let authority: NatsAuthority;
  let server: NatsServer;
  let admin: NatsConnection;
  const open: NatsConnection[] = [];
  const enc = new TextEncoder();

  async function connectAs(roles: NatsRole[], tenant?: string): Promise<NatsConnection> {
    const issued = await mintCredential(authority, {
      roles,
      ...(tenant ? { tenant } : {}),
      permissions: (inboxPrefix) => permissionsFor(roles, { inboxPrefix, ...(tenant ? { tenant } : {}) }),
    });
    const nc = await connectNats({
      servers: server.url,
      name: `test-${roles.join("+")}`,
      ...(await authFromCreds(issued.creds)),
    });
    open.push(nc);
    return nc;
  }

  /** The server's permission error for `subject`, as the client reports it. */
  const refused = (subject: string) => (error: unknown) => {
    assert.match((error as Error).message, /permissions violation/i);
    assert.ok((error as Error).message.includes(subject), `${(error as Error).message} names ${subject}`);
    return true;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bl-auth-"));
    ({ authority } = await openAuthority(dataDir, { create: true }));
    server = await startNatsServer({ extraConfig: serverAuthConfig(authority, join(dataDir, "jwt")) });
    admin = await connectNats({
      servers: server.url,
      name: "admin",
      ...(await authFromCredsFile(adminCredsPath(dataDir))),
    });
    await applyTopology(
      admin,
      beamlineTopology({
        replicas: 1,
        requestRetentionDays: 1,
        usageRetentionDays: 1,
        duplicateWindowMs: 60_000,
        persistMode: "default",
        ackWaitMs: 30_000,
        maxDeliver: 5,
        maxAckPending: 100,
      }),
    );
    const js = jetstream(admin);
    for (const tenant of ["acme", "globex"]) {
      await js.publish(`bl.req.${tenant}.r-${tenant}.accepted`, enc.encode(`prompt of ${tenant}`));
      await js.publish(`bl.usage.${tenant}.r-${tenant}`, enc.encode(`usage of ${tenant}`));
    }
    await new Kvm(admin).open("bl_apikeys").then((kv) => kv.put("somekey", enc.encode("{}")));
  });

  after(async () => {
    for (const nc of [...open, admin]) await nc?.close().catch(() => undefined);
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps the authority's secrets in a 0700 directory of 0600 files", async () => {
    assert.equal((await stat(authority.dir)).mode & 0o777, 0o700);
    for (const file of ["account.nk", "operator.nk", "admin.creds", "system.creds", "credentials.json"]) {
      assert.equal((await stat(join(authority.dir, file))).mode & 0o777, 0o600, file);
    }
  });

  it("refuses a connection without credentials", async () => {
    await assert.rejects(connect({ servers: server.url, reconnect: false }), /authorization violation/i);
  });

  it("lets the worker take and ack work from its consumer and write its slots, nothing more", async () => {
    const nc = await connectAs(["worker"]);
    const js = jetstream(nc);
    const consumer = await js.consumers.get("BL_REQUESTS", "worker");
    const msg = await consumer.next({ expires: 5_000 });
    assert.ok(msg, "the worker consumer delivers");
    assert.equal(msg.subject, "bl.req.acme.r-acme.accepted");
    await msg.ackAck();
    await js.publish("bl.req.acme.r-acme.decided", enc.encode("{}"));
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.purge("BL_REQUESTS"), refused("$JS.API.STREAM.PURGE.BL_REQUESTS"));
    // The worker writes `accepted` only as the producers' ingress does; usage is billing's.
    await assert.rejects(js.publish("bl.usage.acme.r-x", enc.encode("{}")), refused("bl.usage.acme.r-x"));
    await assert.rejects(js.publish("bl.cfg.tenant.acme", enc.encode("{}")), refused("bl.cfg.tenant.acme"));
    const keys = await new Kvm(nc).open("bl_apikeys");
    assert.ok(await keys.get("somekey"), "the worker reads API keys");
    await assert.rejects(keys.delete("somekey"), refused("$KV.bl_apikeys.somekey"));
    // Pulling from another role's durable consumer would steal its work.
    await assert.rejects(
      nc.request("$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.billing", enc.encode('{"batch":1,"no_wait":true}')),
      refused("$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.billing"),
    );
  });

  it("lets the gateway accept requests and write config, never delete a stream", async () => {
    const nc = await connectAs(["gateway"]);
    const js = jetstream(nc);
    await js.publish("bl.req.acme.r-gw.accepted", enc.encode("{}"));
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.delete("BL_USAGE"), refused("$JS.API.STREAM.DELETE.BL_USAGE"));
    await assert.rejects(js.publish("bl.usage.acme.r-gw", enc.encode("{}")), refused("bl.usage.acme.r-gw"));
    await assert.rejects(
      jsm.consumers.delete("BL_REQUESTS", "worker"),
      refused("$JS.API.CONSUMER.DELETE.BL_REQUESTS.worker"),
    );
  });

  it("lets an auditor read every tenant and publish nothing", async () => {
    const nc = await connectAs(["auditor"]);
    const js = jetstream(nc);
    const consumer = await js.consumers.get("BL_REQUESTS", { filter_subjects: ["bl.req.*.*.accepted"] });
    const seen = [
      (await consumer.next({ expires: 5_000 }))?.subject,
      (await consumer.next({ expires: 5_000 }))?.subject,
    ];
    assert.deepEqual(seen, ["bl.req.acme.r-acme.accepted", "bl.req.globex.r-globex.accepted"]);
    await consumer.delete();
    await assert.rejects(
      js.publish("bl.req.acme.r-a.accepted", enc.encode("{}")),
      refused("bl.req.acme.r-a.accepted"),
    );
    await assert.rejects(js.publish("bl.audit.x", enc.encode("{}")), refused("bl.audit.x"));
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.purge("BL_AUDIT"), refused("$JS.API.STREAM.PURGE.BL_AUDIT"));
  });

  it("keeps a tenant-scoped auditor inside its tenant", async () => {
    const nc = await connectAs(["auditor"], "acme");
    const js = jetstream(nc);
    const own = await js.consumers.get("BL_REQUESTS", { filter_subjects: "bl.req.acme.>" });
    assert.equal((await own.next({ expires: 5_000 }))?.subject, "bl.req.acme.r-acme.accepted");
    await own.delete();
    await assert.rejects(
      js.consumers.get("BL_REQUESTS", { filter_subjects: "bl.req.globex.>" }),
      refused("$JS.API.CONSUMER.CREATE.BL_REQUESTS"),
    );
    // Unfiltered, or a read by sequence, would reach every tenant: both refused.
    await assert.rejects(js.consumers.get("BL_REQUESTS"), refused("$JS.API.CONSUMER.CREATE.BL_REQUESTS"));
    const jsm = await jetstreamManager(nc);
    await assert.rejects(
      jsm.direct.getMessage("BL_REQUESTS", { seq: 2 }),
      refused("$JS.API.DIRECT.GET.BL_REQUESTS"),
    );
    await assert.rejects(
      js.consumers.get("BL_USAGE", { filter_subjects: "bl.usage.globex.>" }),
      refused("$JS.API.CONSUMER.CREATE.BL_USAGE"),
    );
  });

  it("lets a tenant's usage reader read that tenant's usage only", async () => {
    const nc = await connectAs(["usage-reader"], "globex");
    const js = jetstream(nc);
    const own = await js.consumers.get("BL_USAGE", { filter_subjects: "bl.usage.globex.>" });
    const msg = await own.next({ expires: 5_000 });
    assert.equal(new TextDecoder().decode(msg?.data), "usage of globex");
    await own.delete();
    await assert.rejects(
      js.consumers.get("BL_USAGE", { filter_subjects: "bl.usage.acme.>" }),
      refused("$JS.API.CONSUMER.CREATE.BL_USAGE"),
    );
    // Refused at its first step (the stream's info): this credential knows no other stream.
    await assert.rejects(
      js.consumers.get("BL_REQUESTS", { filter_subjects: "bl.req.globex.>" }),
      refused("BL_REQUESTS"),
    );
  });

  it("lets a producer publish only its tenant's ingress subject and hear only its own replies", async () => {
    const issued = await mintProducerCredentials(authority, "acme", "p1", { readUsage: true });
    const auth = await authFromCreds(issued.creds);
    assert.equal(
      auth.inboxPrefix,
      issued.record.inboxPrefix,
      "the client finds its inbox prefix in the creds",
    );
    const nc = await connectNats({ servers: server.url, name: "producer-p1", ...auth });
    open.push(nc);
    const heard = admin.subscribe("bl.in.>", { max: 1 });
    await admin.flush();
    nc.publish("bl.in.acme.p1.r-1", enc.encode("request"));
    for await (const m of heard) assert.equal(m.subject, "bl.in.acme.p1.r-1");
    const live = nc.subscribe("bl.live.p1.>");
    await nc.flush();
    assert.equal(live.isClosed(), false);
    const js = jetstream(nc);
    await assert.rejects(js.publish("bl.in.globex.p1.r-2", enc.encode("x")), refused("bl.in.globex.p1.r-2"));
    await assert.rejects(
      js.publish("bl.req.acme.r-2.accepted", enc.encode("x")),
      refused("bl.req.acme.r-2.accepted"),
    );
    const foreign = nc.subscribe("bl.live.p2.>");
    const closedWith = await foreign.closed;
    assert.match(String(closedWith), /permissions violation/i);
    const usage = await js.consumers.get("BL_USAGE", { filter_subjects: "bl.usage.acme.>" });
    assert.equal(new TextDecoder().decode((await usage.next({ expires: 5_000 }))?.data), "usage of acme");
    await usage.delete();
    await assert.rejects(
      js.consumers.get("BL_USAGE", { filter_subjects: "bl.usage.globex.>" }),
      refused("$JS.API.CONSUMER.CREATE.BL_USAGE"),
    );
    const keys = await new Kvm(nc).open("bl_apikeys");
    await assert.rejects(keys.get("somekey"), /permissions violation/i);
    await assert.rejects(keys.delete("somekey"), refused("$KV.bl_apikeys.somekey"));
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.purge("BL_USAGE"), refused("$JS.API.STREAM.PURGE.BL_USAGE"));
  });

  it("revokes a user within seconds: its connection is closed and it cannot connect again", async () => {
    const issued = await mintCredential(authority, {
      roles: ["worker"],
      permissions: (inboxPrefix) => permissionsFor(["worker"], { inboxPrefix }),
    });
    const auth = await authFromCreds(issued.creds);
    const nc = await connect({ servers: server.url, reconnect: false, ...auth });
    const started = performance.now();
    await revokeNatsUser(authority, issued.record.publicKey, server.url);
    await waitFor(() => nc.isClosed() || undefined, {
      what: "the revoked user's connection to close",
      timeoutMs: 10_000,
    });
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 10_000, `revocation took ${tookMs} ms`);
    await assert.rejects(
      connect({ servers: server.url, reconnect: false, ...auth }),
      /authorization violation/i,
    );
    // The revocation is kept: a server started from the regenerated config refuses it too.
    assert.ok(serverAuthConfig(authority, "x").includes(authority.accountJwt));
  });
});
