import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BeamlineError } from "../../src/errors/index.js";
import { contentAad, splitContent } from "../../src/events/index.js";
import { defaultMasterKeyFile, loadMasterKey, masterKeyProvider, open, seal } from "../../src/vault/index.js";

const key = (fill: number) => new Uint8Array(32).fill(fill);
const aad = contentAad({ tenant: "acme", id: "r1:accepted", type: "request.accepted" });

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return error instanceof BeamlineError ? error.code : "not a BeamlineError";
  }
  return undefined;
}

describe("content sealing (AES-256-GCM)", () => {
  it("opens what it sealed, for any content", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (plaintext) => {
        const sealed = seal(key(1), plaintext, aad);
        assert.deepEqual(new Uint8Array(open(key(1), sealed, aad, "test")), plaintext);
      }),
    );
  });

  it("draws a fresh nonce per seal: the same content never seals to the same bytes", () => {
    const a = seal(key(1), new TextEncoder().encode("same"), aad);
    const b = seal(key(1), new TextEncoder().encode("same"), aad);
    assert.notDeepEqual(a.nonce, b.nonce);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  it("refuses another key with BL_CONTENT_UNREADABLE", () => {
    const sealed = seal(key(1), new TextEncoder().encode("prompt"), aad);
    assert.equal(
      codeOf(() => open(key(2), sealed, aad, "test")),
      "BL_CONTENT_UNREADABLE",
    );
  });

  it("binds the ciphertext to its tenant, event id and type", () => {
    const sealed = seal(key(1), new TextEncoder().encode("prompt"), aad);
    for (const moved of [
      { tenant: "other", id: "r1:accepted", type: "request.accepted" },
      { tenant: "acme", id: "r2:accepted", type: "request.accepted" },
      { tenant: "acme", id: "r1:accepted", type: "route.decided" },
    ]) {
      assert.equal(
        codeOf(() => open(key(1), sealed, contentAad(moved), "test")),
        "BL_CONTENT_UNREADABLE",
      );
    }
  });

  it("detects a flipped bit anywhere in the ciphertext", () => {
    const sealed = seal(key(1), new TextEncoder().encode("a prompt of some length"), aad);
    fc.assert(
      fc.property(fc.nat({ max: sealed.ciphertext.length * 8 - 1 }), (bit) => {
        const altered = Uint8Array.from(sealed.ciphertext);
        altered[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(
          codeOf(() => open(key(1), { nonce: sealed.nonce, ciphertext: altered }, aad, "test")),
          "BL_CONTENT_UNREADABLE",
        );
      }),
    );
  });
});

describe("the master-key provider", () => {
  it("unwraps what it wrapped, for the same tenant only", async () => {
    const provider = masterKeyProvider(key(7), "test");
    const wrapped = await provider.wrap(key(9), "acme");
    assert.deepEqual(new Uint8Array(await provider.unwrap(wrapped, "acme")), key(9));
    await assert.rejects(provider.unwrap(wrapped, "other"), { code: "BL_MASTER_KEY_INVALID" });
  });

  it("refuses a data key wrapped by another master key, naming the source and never the key", async () => {
    const wrapped = await masterKeyProvider(key(7), "old").wrap(key(9), "acme");
    await assert.rejects(
      masterKeyProvider(key(8), "BEAMLINE_MASTER_KEY").unwrap(wrapped, "acme"),
      (error) => {
        assert.equal((error as BeamlineError).code, "BL_MASTER_KEY_INVALID");
        assert.match((error as Error).message, /BEAMLINE_MASTER_KEY/);
        assert.ok(!(error as Error).message.includes(Buffer.from(key(8)).toString("base64")));
        return true;
      },
    );
  });

  it("refuses a master key that is not 32 bytes", () => {
    assert.equal(
      codeOf(() => masterKeyProvider(new Uint8Array(16), "test")),
      "BL_MASTER_KEY_INVALID",
    );
  });
});

describe("content fields", () => {
  it("are the prompt of request.accepted and the completion of attempts and terminals; the rest is metadata", () => {
    assert.deepEqual(
      splitContent("request.accepted", { request: { model: "m" }, frontDoor: "nats", stream: false }),
      {
        content: { request: { model: "m" } },
        rest: { frontDoor: "nats", stream: false },
      },
    );
    assert.deepEqual(
      Object.keys(splitContent("request.completed", { completion: {}, usage: {} })?.content ?? {}),
      ["completion"],
    );
    assert.equal(splitContent("usage.recorded", { promptTokens: 1 }), undefined);
    assert.equal(
      splitContent("route.decided", { candidates: [] }),
      undefined,
      "a decision without a routed request",
    );
  });
});

describe("loading the master key", () => {
  it("generates it once into the data directory, mode 0600, and reuses it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bl-master-key-"));
    try {
      assert.equal(await loadMasterKey({ dataDir }, { create: false }), undefined, "no key, none generated");
      const first = await loadMasterKey({ dataDir }, { create: true });
      assert.equal((await stat(defaultMasterKeyFile(dataDir))).mode & 0o777, 0o600);
      const again = await loadMasterKey({ dataDir }, { create: true });
      const wrapped = await first!.wrap(key(3), "acme");
      assert.deepEqual(new Uint8Array(await again!.unwrap(wrapped, "acme")), key(3));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses a key that is not 32 bytes of base64, naming the file and not its content", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bl-master-key-"));
    try {
      const keyFile = join(dataDir, "bad");
      await writeFile(keyFile, "not-a-key");
      await assert.rejects(loadMasterKey({ keyFile, dataDir }, { create: true }), (error) => {
        assert.equal((error as BeamlineError).code, "BL_MASTER_KEY_INVALID");
        assert.ok(!(error as Error).message.includes("not-a-key"));
        return true;
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
