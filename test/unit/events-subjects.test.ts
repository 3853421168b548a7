import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  apiKeyIdFilter,
  apiKeySubject,
  assertRequestId,
  assertTenantId,
  attemptSubject,
  configSubject,
  isSafeToken,
  LEGACY_API_KEY_FILTER,
  legacyApiKeySubject,
  RequestSlots,
  requestHistoryFilter,
  requestSubject,
  slotFilter,
  tenantApiKeyFilter,
  tenantHistoryFilter,
  tenantUsageFilter,
  usageSubject,
} from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const REQUEST_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;
const MAX_ULID_MS = 2 ** 48 - 1;

/** The milliseconds encoded in the first ten characters after `req_`. */
function timeOf(requestId: string): number {
  let ms = 0;
  for (const char of requestId.slice(4, 14)) ms = ms * 32 + CROCKFORD.indexOf(char);
  return ms;
}

const safeToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

describe("tenant ids as subject tokens", () => {
  for (const good of ["acme", "ACME_corp-2", "a", "0", "x".repeat(64)]) {
    it(`accepts ${JSON.stringify(good.length > 10 ? `${good.slice(0, 4)}… (${good.length} chars)` : good)}`, () => {
      assert.equal(isSafeToken(good), true);
      assert.equal(assertTenantId(good), good);
    });
  }

  const bad: Array<[string, string]> = [
    ["a dot, which would split the subject", "a.b"],
    ["the * wildcard", "*"],
    ["the > wildcard", ">"],
    ["a wildcard inside a name", "acme>"],
    ["a space", "acme corp"],
    ["a tab", "acme\tcorp"],
    ["a newline", "acme\n"],
    ["the empty string", ""],
    ["65 characters", "x".repeat(65)],
    ["non-ASCII letters", "açme"],
  ];
  for (const [what, value] of bad) {
    it(`refuses ${what} with BL_INVALID_TENANT_ID naming the allowed alphabet`, () => {
      assert.equal(isSafeToken(value), false);
      assert.throws(
        () => assertTenantId(value),
        (error) =>
          isBeamlineError(error, "BL_INVALID_TENANT_ID") &&
          error.param === "tenant" &&
          error.httpStatus === 400 &&
          /1-64 characters of A-Z, a-z, 0-9, '_' or '-'/.test(error.message),
      );
    });
  }

  it("quotes at most 80 characters of a rejected value", () => {
    assert.throws(
      () => assertTenantId("y".repeat(10_000)),
      (error) => isBeamlineError(error) && error.message.length < 250,
    );
  });

  it("refuses a bad request id with BL_BAD_REQUEST on param request_id", () => {
    assert.throws(
      () => assertRequestId("req.1"),
      (error) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === "request_id",
    );
    assert.equal(assertRequestId("req_1"), "req_1");
  });

  it("never lets a subject separator or wildcard through", () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        if (isSafeToken(value)) assert.doesNotMatch(value, /[.*>\s]/);
      }),
    );
  });
});

describe("subjects and filters", () => {
  it("scopes API key events by tenant, and keeps the legacy subject apart by its token count", () => {
    assert.equal(apiKeySubject("acme", "key_1"), "bl.cfg.apikey.acme.key_1");
    assert.equal(tenantApiKeyFilter("acme"), "bl.cfg.apikey.acme.>");
    assert.equal(apiKeyIdFilter("key_1"), "bl.cfg.apikey.*.key_1");
    assert.equal(legacyApiKeySubject("key_1"), "bl.cfg.apikey.key_1");
    // `bl.cfg.apikey.*` matches 4 tokens: every legacy subject, no tenant-scoped one.
    assert.equal(LEGACY_API_KEY_FILTER, "bl.cfg.apikey.*");
    assert.equal(apiKeySubject("acme", "key_1").split(".").length, 5);
  });

  it("puts every event of a request under bl.req.<tenant>.<requestId>.<slot>", () => {
    assert.equal(requestSubject("acme", "req_1", RequestSlots.accepted), "bl.req.acme.req_1.accepted");
    assert.equal(attemptSubject("acme", "req_1", 2), "bl.req.acme.req_1.attempt.2");
    assert.equal(usageSubject("acme", "req_1"), "bl.usage.acme.req_1");
    assert.equal(configSubject("tenant", "acme"), "bl.cfg.tenant.acme");
    assert.equal(requestHistoryFilter("acme", "req_1"), "bl.req.acme.req_1.>");
    assert.equal(tenantHistoryFilter("acme"), "bl.req.acme.>");
    assert.equal(tenantUsageFilter("acme"), "bl.usage.acme.>");
    assert.equal(slotFilter(RequestSlots.decided), "bl.req.*.*.decided");
  });

  it("a request's history filter matches all of its slots and nothing of another request or tenant", () => {
    fc.assert(
      fc.property(safeToken, safeToken, safeToken, fc.integer({ min: 1, max: 9 }), (tenant, id, other, n) => {
        const subjects = [
          requestSubject(tenant, id, RequestSlots.accepted),
          requestSubject(tenant, id, RequestSlots.decided),
          attemptSubject(tenant, id, n),
          requestSubject(tenant, id, RequestSlots.terminal),
        ];
        for (const subject of subjects) {
          assert.ok(subjectMatches(requestHistoryFilter(tenant, id), subject), subject);
          assert.ok(subjectMatches(tenantHistoryFilter(tenant), subject), subject);
        }
        if (other !== id) {
          assert.equal(subjectMatches(requestHistoryFilter(tenant, other), subjects[0]!), false);
        }
        if (other !== tenant) {
          assert.equal(subjectMatches(tenantHistoryFilter(other), subjects[0]!), false);
          assert.equal(subjectMatches(tenantUsageFilter(other), usageSubject(tenant, id)), false);
        }
        assert.ok(subjectMatches(tenantUsageFilter(tenant), usageSubject(tenant, id)));
      }),
    );
  });

  it("each stage's slot filter matches its own slot only", () => {
    const accepted = requestSubject("acme", "req_1", RequestSlots.accepted);
    const decided = requestSubject("acme", "req_1", RequestSlots.decided);
    const attempt = attemptSubject("acme", "req_1", 3);
    const terminal = requestSubject("acme", "req_1", RequestSlots.terminal);
    const attempts = slotFilter(`${RequestSlots.attempt}.*`);
    assert.deepEqual(
      [accepted, decided, attempt, terminal].map((s) => [
        subjectMatches(slotFilter(RequestSlots.accepted), s),
        subjectMatches(slotFilter(RequestSlots.decided), s),
        subjectMatches(attempts, s),
        subjectMatches(slotFilter(RequestSlots.terminal), s),
      ]),
      [
        [true, false, false, false],
        [false, true, false, false],
        [false, false, true, false],
        [false, false, false, true],
      ],
    );
  });
});

describe("newRequestId", () => {
  it("is req_ and 26 Crockford base32 characters (a ULID), a safe subject token", () => {
    const id = newRequestId(Date.UTC(2026, 0, 1));
    assert.match(id, REQUEST_ID);
    assert.equal(isSafeToken(id), true);
  });

  it("encodes the given time in its first ten characters", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_ULID_MS }), (ms) => {
        const id = newRequestId(ms);
        assert.match(id, REQUEST_ID);
        assert.equal(timeOf(id), ms);
      }),
    );
  });

  it("sorts by time: an id from a later millisecond sorts after one from an earlier", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_ULID_MS - 1 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (earlier, gap) => {
          const later = Math.min(MAX_ULID_MS, earlier + gap);
          assert.ok(newRequestId(earlier) < newRequestId(later));
        },
      ),
    );
  });

  it("does not repeat within one millisecond", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newRequestId(1_767_225_600_000)));
    assert.equal(ids.size, 10_000);
  });
});
