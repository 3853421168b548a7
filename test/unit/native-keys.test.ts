import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createAccount,
  createOperator,
  createUser,
  decode,
  encodeUser,
  fromPublic,
  fromSeed,
} from "@nats-io/jwt";
import { withNativeEd25519 } from "../../src/access/native-keys.js";

/**
 * Key pairs with native Ed25519 must be indistinguishable from nkeys' own: the same public and
 * private key text and the same (deterministic) signatures, for every role Beamline mints.
 */
describe("key pairs with native Ed25519", () => {
  const roles = { operator: createOperator, account: createAccount, user: createUser };

  for (const [role, create] of Object.entries(roles)) {
    it(`give the same keys and signatures as nkeys for 50 ${role} keys`, () => {
      for (let i = 0; i < 50; i++) {
        const reference = create();
        const native = withNativeEd25519(fromSeed(reference.getSeed()));
        assert.notEqual(native.constructor, reference.constructor, "the pair was wrapped");
        assert.equal(native.getPublicKey(), reference.getPublicKey());
        assert.deepEqual(native.getPrivateKey(), reference.getPrivateKey());
        assert.deepEqual(native.getSeed(), reference.getSeed());
        const message = new TextEncoder().encode(`message ${i} for ${role}`);
        const signature = native.sign(message);
        assert.deepEqual(signature, reference.sign(message));
        assert.ok(fromPublic(reference.getPublicKey()).verify(message, signature));
        assert.ok(native.verify(message, signature));
        assert.equal(native.verify(new TextEncoder().encode("another"), signature), false);
      }
    });
  }

  it("sign a user JWT that decodes and verifies against the issuer", async () => {
    const account = withNativeEd25519(createAccount());
    const user = withNativeEd25519(createUser());
    const jwt = await encodeUser("someone", user, account, { pub: { allow: ["a.>"], deny: [] } });
    const claims = await decode(jwt);
    assert.equal(claims.sub, user.getPublicKey());
    assert.equal(claims.iss, account.getPublicKey());
  });
});
