import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { BeamlineError } from "../errors/index.js";

/** AES-256-GCM with a random 96-bit nonce and a 128-bit tag appended to the ciphertext. */
const ALGORITHM = "aes-256-gcm";
/** Bytes of a data key or the master key. */
export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Random nonces are drawn from a pool refilled 512 at a time: one `randomBytes` call per seal
 * cost more than the encryption itself (measured, bench/RESULTS.md "Content at rest").
 */
const NONCE_POOL_SIZE = NONCE_BYTES * 512;
let noncePool = Buffer.alloc(0);
let nonceOffset = 0;

function nextNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL_SIZE);
    nonceOffset = 0;
  }
  const nonce = Buffer.from(noncePool.subarray(nonceOffset, nonceOffset + NONCE_BYTES));
  nonceOffset += NONCE_BYTES;
  return nonce;
}

/** A sealed value: the nonce it was sealed with, and ciphertext followed by the GCM tag. */
export interface Sealed {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/**
 * Seals `plaintext` under `key`, bound to `aad` (opening with any other associated data fails).
 * A random nonce per call: with 2^32 seals per key the collision chance stays below 2^-32
 * (NIST SP 800-38D), far beyond one tenant's request count between key rotations.
 */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Sealed {
  const nonce = nextNonce();
  const cipher = createCipheriv(ALGORITHM, key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return { nonce, ciphertext: Buffer.concat([body, final, cipher.getAuthTag()]) };
}

/**
 * Opens what `seal` produced. Throws `BL_CONTENT_UNREADABLE` when the tag does not match:
 * another key, other associated data (the ciphertext was moved), or altered bytes.
 */
export function open(key: Uint8Array, sealed: Sealed, aad: Uint8Array, what: string): Uint8Array {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length < TAG_BYTES) {
    throw new BeamlineError("BL_CONTENT_UNREADABLE", `${what} is not a sealed value (bad nonce or length)`);
  }
  const split = sealed.ciphertext.length - TAG_BYTES;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, sealed.nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.ciphertext.subarray(split));
    return Buffer.concat([decipher.update(sealed.ciphertext.subarray(0, split)), decipher.final()]);
  } catch (error) {
    // Never the key or the bytes in the message: only what was being opened.
    throw new BeamlineError(
      "BL_CONTENT_UNREADABLE",
      `${what} failed its integrity check: altered, moved from another event, or sealed with another key`,
      { cause: error },
    );
  }
}
