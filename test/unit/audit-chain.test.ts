import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type AuditFinding,
  CheckpointBuilder,
  CheckpointChainVerifier,
  genesisPosition,
  keyIdOf,
  type NotarisedMessage,
  positionAfter,
  RangeVerifier,
  type RetentionFacts,
  type SignedCheckpoint,
  signCheckpoint,
} from "../../src/audit/index.js";

const STREAM = "BL_TEST";
const TIME = "2026-12-01T10:00:00.000Z";
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const KEY_ID = keyIdOf(publicKey);
/** A stream that has lost nothing to retention. */
const NO_RETENTION: RetentionFacts = {
  firstSeq: 1,
  maxAgeMs: 0,
  ageIsOnlyLimit: false,
  now: Date.parse(TIME),
};

const messageArb = (seq: number) =>
  fc
    .record({
      subject: fc.constantFrom("bl.req.acme.r1.accepted", "bl.req.acme.r1.decided", "bl.usage.acme.r1"),
      type: fc.constantFrom("request.accepted", "route.decided", "usage.recorded"),
      payload: fc.uint8Array({ minLength: 0, maxLength: 40 }),
    })
    .map(
      ({ subject, type, payload }): NotarisedMessage => ({
        stream: STREAM,
        seq,
        subject,
        headers: [
          ["bl-type", [type]],
          ["Nats-Msg-Id", [`${subject}:${seq}`]],
        ],
        payload,
      }),
    );

/** 1..30 messages at ascending sequences, some sequences skipped (absent when notarised). */
const historyArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()), { minLength: 1, maxLength: 30 })
  .chain((steps) => {
    let seq = 0;
    const seqs = steps.map(([gap]) => {
      seq += gap;
      return seq;
    });
    return fc.tuple(...seqs.map((s) => messageArb(s)));
  });

/** Notarises `messages` in checkpoints of at most `perCheckpoint` messages. */
function notarise(messages: NotarisedMessage[], perCheckpoint: number): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  let builder = new CheckpointBuilder(genesisPosition(STREAM));
  const flush = () => {
    const body = builder.build(TIME, KEY_ID);
    if (!body) return;
    out.push(signCheckpoint(body, privateKey));
    builder = new CheckpointBuilder(positionAfter(body));
  };
  for (const message of messages) {
    builder.add(message, TIME);
    if (builder.count >= perCheckpoint) flush();
  }
  flush();
  return out;
}

/** Runs the verifier over the messages as a stream would yield them; the first finding or none. */
function verify(
  checkpoints: SignedCheckpoint[],
  stored: NotarisedMessage[],
  retention = NO_RETENTION,
): AuditFinding | undefined {
  const chain = new CheckpointChainVerifier(publicKey, KEY_ID, false);
  let index = 0;
  for (const cp of checkpoints) {
    const broken = chain.accept(cp);
    if (broken) return broken;
    const range = new RangeVerifier(cp, retention);
    while (index < stored.length && stored[index]!.seq <= cp.lastSeq) {
      const finding = range.accept(stored[index]!);
      if (finding) return finding;
      index++;
    }
    const finding = range.finish();
    if (finding) return finding;
  }
  return undefined;
}

describe("audit chain: checkpoints over a stream", () => {
  it("a notarised history verifies, in one checkpoint or many", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), (messages, per) => {
        assert.equal(verify(notarise(messages, per), messages), undefined);
      }),
    );
  });

  it("deleting any one message is found, at its sequence, as missing", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (messages, per, pick) => {
        const victim = pick % messages.length;
        const finding = verify(
          notarise(messages, per),
          messages.filter((_, i) => i !== victim),
        );
        assert.equal(finding?.kind, "missing");
        assert.equal(finding?.seq, messages[victim]!.seq);
      }),
    );
  });

  it("altering any one message's payload, subject or header is found at its sequence", () => {
    fc.assert(
      fc.property(
        historyArb,
        fc.integer({ min: 1, max: 8 }),
        fc.nat(),
        fc.constantFrom("payload", "subject", "header"),
        (messages, per, pick, what) => {
          const victim = pick % messages.length;
          const original = messages[victim]!;
          const altered: NotarisedMessage =
            what === "payload"
              ? { ...original, payload: Uint8Array.from([...original.payload, 1]) }
              : what === "subject"
                ? { ...original, subject: `${original.subject}.x` }
                : { ...original, headers: [...original.headers, ["bl-tenant", ["mallory"]]] };
          const finding = verify(
            notarise(messages, per),
            messages.map((m, i) => (i === victim ? altered : m)),
          );
          assert.equal(finding?.kind, "altered");
          assert.equal(finding?.seq, original.seq);
        },
      ),
    );
  });

  it("swapping the contents of two sequences is found", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (messages, per, pick) => {
        fc.pre(messages.length >= 2);
        const i = pick % (messages.length - 1);
        const [a, b] = [messages[i]!, messages[i + 1]!];
        const swapped = [...messages];
        swapped[i] = { ...b, seq: a.seq, headers: b.headers };
        swapped[i + 1] = { ...a, seq: b.seq, headers: a.headers };
        const finding = verify(notarise(messages, per), swapped);
        assert.equal(finding?.kind, "altered");
        assert.equal(finding?.seq, a.seq);
      }),
    );
  });

  it("a message inserted at a sequence that was absent when notarised is a forged insertion", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), (messages, per) => {
        const hole = messages.findIndex((m, i) => i > 0 && m.seq > messages[i - 1]!.seq + 1);
        fc.pre(hole > 0);
        const forged: NotarisedMessage = { ...messages[hole]!, seq: messages[hole]!.seq - 1 };
        const stored = [...messages.slice(0, hole), forged, ...messages.slice(hole)];
        const finding = verify(notarise(messages, per), stored);
        assert.equal(finding?.kind, "forged-insertion");
        assert.equal(finding?.seq, forged.seq);
      }),
    );
  });

  it("messages out of sequence order are reported as reordered", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (messages, per, pick) => {
        fc.pre(messages.length >= 2);
        const i = pick % (messages.length - 1);
        const reordered = [...messages];
        [reordered[i], reordered[i + 1]] = [reordered[i + 1]!, reordered[i]!];
        const finding = verify(notarise(messages, per), reordered);
        // Within one checkpoint the later message arrives first, so its predecessor reads as
        // missing (then out of order); across a checkpoint boundary it reads as out of range.
        assert.ok(finding, "a reorder must be found");
        assert.ok(["missing", "reordered"].includes(finding.kind), finding.kind);
      }),
    );
  });

  it("removing a checkpoint other than the last, altering or forging one, breaks the chain", () => {
    fc.assert(
      fc.property(
        historyArb,
        fc.nat(),
        fc.constantFrom("remove", "resign", "tamper"),
        (messages, pick, what) => {
          const checkpoints = notarise(messages, 2);
          fc.pre(checkpoints.length >= 2);
          // The last checkpoint is the one whose removal nobody can see (docs/audit.md, threat model).
          const i = what === "remove" ? pick % (checkpoints.length - 1) : pick % checkpoints.length;
          const cp = checkpoints[i]!;
          const doctored =
            what === "remove"
              ? checkpoints.filter((_, j) => j !== i)
              : checkpoints.map((c, j) => {
                  if (j !== i) return c;
                  if (what === "tamper") return { ...c, runningHash: "0".repeat(64) };
                  const { privateKey: other } = generateKeyPairSync("ed25519");
                  return signCheckpoint({ ...c, keyId: KEY_ID }, other);
                });
          const finding = verify(doctored, messages);
          assert.ok(finding, `a ${what} of checkpoint ${cp.firstSeq}..${cp.lastSeq} must be found`);
          const expected = what === "remove" ? ["broken-link", "missing"] : ["bad-signature"];
          assert.ok(expected.includes(finding.kind), finding.kind);
        },
      ),
    );
  });

  it("messages below the stream's first sequence count as expired, not as tampering", () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (messages, per, pick) => {
        const cut = messages[pick % messages.length]!.seq;
        const retained = messages.filter((m) => m.seq >= cut);
        const retention: RetentionFacts = { ...NO_RETENTION, firstSeq: cut };
        assert.equal(verify(notarise(messages, per), retained, retention), undefined);
      }),
    );
  });

  it("a head removed while younger than max_age (a purge) is missing, not expired", () => {
    const messages = [1, 2, 3].map((seq) => ({
      stream: STREAM,
      seq,
      subject: "bl.usage.acme.r1",
      headers: [],
      payload: Uint8Array.of(seq),
    }));
    const checkpoints = notarise(messages, 10);
    const young: RetentionFacts = {
      firstSeq: 3,
      maxAgeMs: 86_400_000,
      ageIsOnlyLimit: true,
      now: Date.parse(TIME),
    };
    assert.equal(verify(checkpoints, messages.slice(2), young)?.kind, "missing");
    const old: RetentionFacts = { ...young, now: Date.parse(TIME) + 2 * 86_400_000 };
    assert.equal(verify(checkpoints, messages.slice(2), old), undefined);
  });
});
