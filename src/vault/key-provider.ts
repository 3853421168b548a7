import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamlineError } from "../errors/index.js";
import { KEY_BYTES, open, seal } from "./cipher.js";

/**
 * Wraps and unwraps tenants' data keys. The master-key provider below does it locally; a KMS
 * (AWS KMS Encrypt/Decrypt, GCP KMS, Vault transit) implements the same two calls, so the
 * master key never has to be in this process.
 */
export interface KeyProvider {
  /** Names the wrapping key (not secret), recorded beside each wrapped key for rotation. */
  readonly keyId: string;
  /** Where it came from, for logs: an env variable's name or a file path. Never the key. */
  readonly source: string;
  /** Wraps a data key; `context` (the tenant) is bound to it, so a wrapped key cannot be moved. */
  wrap(dataKey: Uint8Array, context: string): Promise<Uint8Array>;
  /** Unwraps a data key; throws `BL_MASTER_KEY_INVALID` when this provider did not wrap it for `context`. */
  unwrap(wrapped: Uint8Array, context: string): Promise<Uint8Array>;
}

/** Where the master key comes from, in order: the env value, a file, the data directory. */
export interface MasterKeySettings {
  /** 32 bytes, base64 (BEAMLINE_MASTER_KEY). */
  key?: string | undefined;
  /** A file holding the base64 key (BEAMLINE_MASTER_KEY_FILE). */
  keyFile?: string | undefined;
  dataDir: string;
}

/** The file a master key generated on first start is kept in. */
export function defaultMasterKeyFile(dataDir: string): string {
  return join(dataDir, "master-key");
}

const NONCE_AND_TAG = 12 + 16;
const wrapAad = (context: string) => new TextEncoder().encode(`beamline-data-key/v1\n${context}`);

/** A key provider holding the master key in memory: AES-256-GCM key wrapping. */
export function masterKeyProvider(masterKey: Uint8Array, source: string): KeyProvider {
  if (masterKey.length !== KEY_BYTES) {
    throw new BeamlineError(
      "BL_MASTER_KEY_INVALID",
      `the master key from ${source} is not ${KEY_BYTES} bytes`,
    );
  }
  const key = Uint8Array.from(masterKey);
  return {
    keyId: "local",
    source,
    async wrap(dataKey, context) {
      const sealed = seal(key, dataKey, wrapAad(context));
      return Buffer.concat([sealed.nonce, sealed.ciphertext]);
    },
    async unwrap(wrapped, context) {
      if (wrapped.length < NONCE_AND_TAG) {
        throw new BeamlineError("BL_MASTER_KEY_INVALID", `the stored data key of ${context} is truncated`);
      }
      try {
        return open(
          key,
          { nonce: wrapped.subarray(0, 12), ciphertext: wrapped.subarray(12) },
          wrapAad(context),
          `the data key of ${context}`,
        );
      } catch (error) {
        throw new BeamlineError(
          "BL_MASTER_KEY_INVALID",
          `the master key from ${source} does not unwrap the data key of ${context}: it is not the key that wrapped it`,
          { cause: error },
        );
      }
    },
  };
}

function parseKey(text: string, source: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, "base64") : Buffer.alloc(0);
  if (bytes.length !== KEY_BYTES) {
    // The message names the source, never the content: it is a secret.
    throw new BeamlineError(
      "BL_MASTER_KEY_INVALID",
      `the master key from ${source} must be ${KEY_BYTES} random bytes in base64 (e.g. \`openssl rand -base64 32\`)`,
    );
  }
  return bytes;
}

const isErrno = (error: unknown, code: string) => (error as NodeJS.ErrnoException | undefined)?.code === code;

/**
 * Loads the master key: `settings.key`, else `settings.keyFile`, else `<dataDir>/master-key`.
 * With `create`, a missing file in the data directory is generated (mode 0600, created
 * exclusively, so processes starting together share one key). Without it a missing key is
 * `undefined`: the process can read clear history but cannot seal or open content.
 */
export async function loadMasterKey(
  settings: MasterKeySettings,
  options: { create: boolean },
): Promise<KeyProvider | undefined> {
  if (settings.key)
    return masterKeyProvider(parseKey(settings.key, "BEAMLINE_MASTER_KEY"), "BEAMLINE_MASTER_KEY");
  if (settings.keyFile) {
    const text = await readFile(settings.keyFile, "utf8").catch((error: unknown) => {
      throw new BeamlineError(
        "BL_MASTER_KEY_INVALID",
        `cannot read the master key file ${settings.keyFile}`,
        {
          cause: error,
        },
      );
    });
    return masterKeyProvider(parseKey(text, settings.keyFile), settings.keyFile);
  }
  const file = defaultMasterKeyFile(settings.dataDir);
  try {
    return masterKeyProvider(parseKey(await readFile(file, "utf8"), file), file);
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
    if (!options.create) return undefined;
  }
  const text = `${randomBytes(KEY_BYTES).toString("base64")}\n`;
  await mkdir(settings.dataDir, { recursive: true });
  try {
    await writeFile(file, text, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process generated it first: use theirs, so both wrap with one key.
    if (isErrno(error, "EEXIST"))
      return masterKeyProvider(parseKey(await readFile(file, "utf8"), file), file);
    throw error;
  }
  return masterKeyProvider(parseKey(text, file), file);
}
