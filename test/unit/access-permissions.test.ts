import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NATS_ROLES, type NatsRole, permissionsFor, producerPermissions } from "../../src/access/index.js";

const inboxPrefix = "_INBOX_test";
const ROUTER_ROLES: NatsRole[] = ["gateway", "worker", "billing", "projector", "notary"];
const CONSUMES: Partial<Record<NatsRole, string[]>> = {
  worker: ["BL_REQUESTS.worker"],
  billing: ["BL_REQUESTS.billing"],
  projector: ["BL_CONFIG.projector-apikeys", "BL_QUOTA.projector-quotas", "BL_USAGE.projector-spend"],
};

describe("role permission tables", () => {
  it("keeps a role off another role's durable consumer, and a multi-role user on both", () => {
    const worker = permissionsFor(["worker"], { inboxPrefix });
    assert.ok(worker.pub.deny.includes("$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.billing"));
    assert.ok(!worker.pub.deny.includes("$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.worker"));
    const both = permissionsFor(["worker", "billing"], { inboxPrefix });
    for (const durable of ["worker", "billing"]) {
      assert.ok(both.pub.allow.includes(`$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.${durable}`));
      assert.ok(!both.pub.deny.includes(`$JS.API.CONSUMER.MSG.NEXT.BL_REQUESTS.${durable}`));
    }
  });

  it("scopes a tenant auditor to filtered consumers and subject reads of its tenant", () => {
    const { pub } = permissionsFor(["auditor"], { inboxPrefix, tenant: "acme" });
    assert.ok(pub.allow.includes("$JS.API.CONSUMER.CREATE.BL_REQUESTS.*.bl.req.acme.>"));
    for (const open of [
      "$JS.API.CONSUMER.CREATE.BL_REQUESTS",
      "$JS.API.CONSUMER.CREATE.BL_REQUESTS.>",
      "$JS.API.DIRECT.GET.BL_REQUESTS",
      "$JS.API.STREAM.MSG.GET.BL_REQUESTS",
    ]) {
      assert.ok(!pub.allow.includes(open), open);
    }
    assert.deepEqual(
      pub.allow.filter((s) => !s.startsWith("$JS.")),
      [],
      "an auditor publishes nothing but JetStream API reads",
    );
  });

  it("lets a producer publish only its ingress subject and hear only its replies", () => {
    const p = producerPermissions({ tenant: "acme", producerId: "p1", inboxPrefix });
    assert.deepEqual(p.pub.allow, ["bl.in.acme.p1.>"]);
    assert.deepEqual(p.sub.allow, ["_INBOX_test.>", "bl.live.p1.>"]);
    const reader = producerPermissions({ tenant: "acme", producerId: "p1", inboxPrefix, readUsage: true });
    assert.ok(reader.pub.allow.includes("$JS.API.CONSUMER.CREATE.BL_USAGE.*.bl.usage.acme.>"));
    assert.ok(!reader.pub.allow.includes("$JS.API.CONSUMER.CREATE.BL_USAGE.>"));
  });

  it("never lets a non-admin role change streams, and always its own consumers and inbox", () => {
    const roles = fc.subarray(
      NATS_ROLES.filter((r) => r !== "admin"),
      { minLength: 1 },
    );
    const tenant = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    fc.assert(
      fc.property(roles, fc.option(tenant, { nil: undefined }), (chosen, t) => {
        const perms = permissionsFor(chosen, { inboxPrefix, ...(t ? { tenant: t } : {}) });
        for (const subject of perms.pub.allow) {
          assert.doesNotMatch(
            subject,
            /^\$JS\.API\.(STREAM\.(CREATE|UPDATE|DELETE|PURGE|MSG\.DELETE)|ACCOUNT)/,
          );
          assert.notEqual(subject, ">");
        }
        assert.ok(perms.sub.allow.includes(`${inboxPrefix}.>`));
        for (const role of chosen.filter((r) => ROUTER_ROLES.includes(r))) {
          for (const durable of CONSUMES[role] ?? []) {
            assert.ok(
              perms.pub.allow.includes(`$JS.API.CONSUMER.MSG.NEXT.${durable}`),
              `${role} pulls ${durable}`,
            );
            assert.ok(
              !perms.pub.deny.includes(`$JS.API.CONSUMER.MSG.NEXT.${durable}`),
              `${role} pulls ${durable}`,
            );
          }
        }
      }),
    );
  });
});
