import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  createDetectors,
  ibanValid,
  luhnValid,
  type PiiKind,
  ssnValid,
} from "../../src/extensions/builtins/pii/detectors.js";
import { maskText, StreamMasker } from "../../src/extensions/builtins/pii/mask.js";

const detectors = createDetectors();

/** `[kind, text, expected masked text]`: positives mask, negatives stay unchanged. */
const table: [PiiKind, string, string][] = [
  ["email", "write to alice.smith+tag@example.co.uk now", "write to [EMAIL] now"],
  ["email", "(bob@mail.example.org).", "([EMAIL])."],
  ["email", "no e-mail in user@localhost or @handle", "no e-mail in user@localhost or @handle"],
  ["email", "a@b.c is too short a TLD", "a@b.c is too short a TLD"],
  ["phone", "call +1 (415) 555-0132 today", "call [PHONE] today"],
  ["phone", "ring +44 20 7946 0958.", "ring [PHONE]."],
  ["phone", "or 415.555.0132", "or [PHONE]"],
  ["phone", "dated 2026-11-27 at 04:48", "dated 2026-11-27 at 04:48"],
  ["phone", "order 12345 shipped", "order 12345 shipped"],
  ["card", "card 4111 1111 1111 1111 ok", "card [CARD] ok"],
  ["card", "card 5500-0000-0000-0004", "card [CARD]"],
  ["card", "amex 378282246310005", "amex [CARD]"],
  ["card", "bad checksum 4111 1111 1111 1112 stays", "bad checksum 4111 1111 1111 1112 stays"],
  ["iban", "iban DE89 3704 0044 0532 0130 00 please", "iban [IBAN] please"],
  ["iban", "GB82WEST12345698765432", "[IBAN]"],
  ["iban", "GB83WEST12345698765432 fails mod-97", "GB83WEST12345698765432 fails mod-97"],
  ["ssn", "ssn 123-45-6789.", "ssn [SSN]."],
  ["ssn", "area 666: 666-45-6789", "area 666: 666-45-6789"],
  [
    "ssn",
    "area 9xx: 912-45-6789, group 00: 123-00-6789, serial: 123-45-0000",
    "area 9xx: 912-45-6789, group 00: 123-00-6789, serial: 123-45-0000",
  ],
  ["ipv4", "host 192.168.1.20.", "host [IP]."],
  ["ipv4", "version 1.2.3.4.5 and 256.1.1.1", "version 1.2.3.4.5 and 256.1.1.1"],
  ["ipv6", "v6 2001:db8::ff00:42:8329 and ::1.", "v6 [IP] and [IP]."],
  ["ipv6", "time 04:48:26 and a::b::c", "time 04:48:26 and a::b::c"],
  ["secret", "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "key [SECRET]"],
  ["secret", "openai sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", "openai [SECRET]"],
  ["secret", "aws AKIAIOSFODNN7EXAMPLE", "aws [SECRET]"],
  ["secret", "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [SECRET]"],
  ["secret", "slack xoxb-123456789012-abcdefABCDEF", "slack [SECRET]"],
  ["secret", "google AIzaSyA1234567890abcdefghijklmnopqrstuv", "google [SECRET]"],
  ["secret", "random Zx9Qe3LmP0aBvW7yTq2Rk8sUd5Fh1JgNc4", "random [SECRET]"],
  ["secret", "a task-list-item and sk-short", "a task-list-item and sk-short"],
  [
    "secret",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  ],
  ["secret", "uuid 123e4567-e89b-12d3-a456-426614174000", "uuid 123e4567-e89b-12d3-a456-426614174000"],
];

describe("PII detection", () => {
  for (const [kind, text, expected] of table) {
    it(`${kind}: ${JSON.stringify(text)}`, () => {
      assert.equal(maskText(text, detectors, "label"), expected);
    });
  }

  it("checks Luhn, mod-97 and SSN ranges", () => {
    assert.equal(luhnValid("4111111111111111"), true);
    assert.equal(luhnValid("4111111111111112"), false);
    assert.equal(ibanValid("DE89370400440532013000"), true);
    assert.equal(ibanValid("DE89370400440532013001"), false);
    assert.equal(ssnValid("123", "45", "6789"), true);
    assert.equal(ssnValid("000", "45", "6789"), false);
  });

  it("masks only the configured kinds", () => {
    const emailOnly = detectors.filter((d) => d.kind === "email");
    assert.equal(
      maskText("a@example.com 4111 1111 1111 1111", emailOnly, "label"),
      "[EMAIL] 4111 1111 1111 1111",
    );
  });

  it("partial style keeps a recognisable end and never a secret's characters", () => {
    const counts = {};
    assert.equal(
      maskText(
        "card 4111-1111-1111-1111, bob@x.io, key ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        detectors,
        "partial",
        counts,
      ),
      "card ****-****-****-1111, b***@x.io, key [SECRET]",
    );
    assert.deepEqual(counts, { card: 1, email: 1, secret: 1 });
  });
});

function streamMask(pieces: string[]): string {
  const masker = new StreamMasker(detectors, "label");
  let out = "";
  for (const piece of pieces) out += masker.push(piece);
  return out + masker.end();
}

/** Splits `text` at the given cut points (any order, duplicates allowed). */
function splitAt(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let at = 0;
  for (const point of points) {
    pieces.push(text.slice(at, point));
    at = point;
  }
  pieces.push(text.slice(at));
  return pieces;
}

describe("streaming PII masking", () => {
  it("masks a secret split across chunk boundaries, and never emits a piece of it", () => {
    const secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345";
    const pieces = ["Your key is sk-a", "nt-api03-abcdefgh", "ijklmnopqrstuvwxyz0", "12345 keep it safe."];
    const masker = new StreamMasker(detectors, "label");
    const emitted = pieces.map((piece) => masker.push(piece));
    emitted.push(masker.end());
    assert.equal(emitted.join(""), "Your key is [SECRET] keep it safe.");
    for (const out of emitted)
      assert.ok(!out.includes("sk-") && !out.includes("abcdefgh"), `leaked in ${out}`);
    assert.ok(secret.length > 0);
  });

  it("emits plain prose early instead of holding it to the end", () => {
    const masker = new StreamMasker(detectors, "label");
    const out = masker.push("The quick brown fox jumps over the lazy dog and keeps running far away, ");
    assert.ok(out.length > 20, `emitted only ${JSON.stringify(out)}`);
  });

  const fragments = [
    "alice@example.com",
    "+1 (415) 555-0132",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "123-45-6789",
    "192.168.1.20",
    "2001:db8::1",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    "AKIAIOSFODNN7EXAMPLE",
    "Zx9Qe3LmP0aBvW7yTq2Rk8sUd5Fh1JgNc4",
    " ",
    ". ",
    ", ",
    "\n",
    "hello",
    "world",
    "42",
    "-",
    ":",
    "@",
  ];
  const textArb = fc
    .array(fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 6 })), { maxLength: 14 })
    .map((parts) => parts.join(""));

  it("masks any chunking of a text exactly as it masks the whole text (property)", () => {
    fc.assert(
      fc.property(textArb, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        assert.equal(streamMask(splitAt(text, cuts)), maskText(text, detectors, "label"));
      }),
      { numRuns: 400 },
    );
  });

  it("masks a text fed one character at a time exactly as the whole (property)", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        assert.equal(streamMask([...text]), maskText(text, detectors, "label"));
      }),
      { numRuns: 200 },
    );
  });
});
