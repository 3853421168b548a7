import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import type { KeyPair } from "@nats-io/jwt";

/** The DER header of an Ed25519 private key in PKCS #8; the 32-byte seed follows it. */
const ED25519_PKCS8_HEADER = Buffer.from("302e020100300506032b657004220420", "hex");

/** nkey prefix bytes, by the letter a key of that role starts with (its seed's second letter). */
const ROLE_PREFIXES: Readonly<Record<string, number>> = {
  O: 14 << 3,
  A: 0,
  U: 20 << 3,
  N: 13 << 3,
  C: 2 << 3,
};
const PRIVATE_KEY_PREFIX = 15 << 3;
const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** An nkey's text: base32 (no padding) of the prefix byte, the key, and its CRC-16/XMODEM, little-endian. */
function encodeNkey(prefix: number, key: Uint8Array): string {
  const raw = new Uint8Array(key.length + 3);
  raw[0] = prefix;
  raw.set(key, 1);
  let crc = 0;
  for (const byte of raw.subarray(0, key.length + 1)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  raw[key.length + 1] = crc & 0xff;
  raw[key.length + 2] = crc >> 8;
  let text = "";
  let bits = 0;
  let value = 0;
  for (const byte of raw) {
    value = ((value << 8) | byte) & 0xfff;
    bits += 8;
    for (; bits >= 5; bits -= 5) text += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
  }
  if (bits > 0) text += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return text;
}

/**
 * An nkey pair whose Ed25519 work is done by Node's crypto (OpenSSL), once, instead of the
 * pure-JS tweetnacl inside nkeys, which derives the key pair again on every `getPublicKey`,
 * `sign` and `getPrivateKey`. Each derivation allocates thousands of small typed arrays whose memory is
 * native: minting the authority and this process's credential at start-up grew the process's
 * malloc heap by ~30 MB that it kept for its whole life (bench/RESULTS.md, "Router memory").
 * Ed25519 signatures are deterministic, so the bytes are the same as tweetnacl's.
 */
class NativeKeyPair implements KeyPair {
  private readonly privateKey: KeyObject;
  private readonly publicKeyObject: KeyObject;
  private readonly publicKey: string;
  private readonly encodedPrivateKey: Uint8Array;

  constructor(
    private readonly pair: KeyPair,
    rawSeed: Uint8Array,
    prefix: number,
  ) {
    this.privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_HEADER, rawSeed]),
      format: "der",
      type: "pkcs8",
    });
    this.publicKeyObject = createPublicKey(this.privateKey);
    // SPKI of an Ed25519 key: a fixed header, then the 32-byte key.
    const rawPublicKey = this.publicKeyObject.export({ format: "der", type: "spki" }).subarray(-32);
    this.publicKey = encodeNkey(prefix, rawPublicKey);
    this.encodedPrivateKey = new TextEncoder().encode(
      encodeNkey(PRIVATE_KEY_PREFIX, Buffer.concat([rawSeed, rawPublicKey])),
    );
  }

  getPublicKey(): string {
    return this.publicKey;
  }

  getPrivateKey(): Uint8Array {
    return this.encodedPrivateKey;
  }

  getSeed(): Uint8Array {
    return this.pair.getSeed();
  }

  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, input, this.privateKey));
  }

  verify(input: Uint8Array, signature: Uint8Array): boolean {
    return verify(null, input, this.publicKeyObject, signature);
  }

  clear(): void {
    this.pair.clear();
  }

  seal(input: Uint8Array, recipient: string, nonce?: Uint8Array): Uint8Array {
    return this.pair.seal(input, recipient, nonce);
  }

  open(message: Uint8Array, sender: string): Uint8Array | null {
    return this.pair.open(message, sender);
  }
}

/**
 * The same key pair with native Ed25519. nkeys' pairs expose their raw seed (`getRawSeed`,
 * outside the `KeyPair` type); a pair without one, or of a role not listed, is returned as it is.
 */
export function withNativeEd25519(pair: KeyPair): KeyPair {
  const rawSeed = (pair as KeyPair & { getRawSeed?: () => Uint8Array }).getRawSeed?.();
  const prefix = ROLE_PREFIXES[String.fromCharCode(pair.getSeed()[1] ?? 0)];
  return rawSeed?.length === 32 && prefix !== undefined ? new NativeKeyPair(pair, rawSeed, prefix) : pair;
}
