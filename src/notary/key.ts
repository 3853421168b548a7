import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keyIdOf } from "../audit/index.js";
import { BeamlineError } from "../errors/index.js";

/** The notary's signing key. The private half never leaves this object: log `keyId` and `source` only. */
export interface NotaryKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  /** Where it came from, for logs: an env variable's name or a file path. */
  source: string;
}

/** Where the key comes from, in order: inline PEM, a PEM file, the data directory. */
export interface NotaryKeySettings {
  key?: string | undefined;
  keyFile?: string | undefined;
  dataDir: string;
}

/** The file a key generated on first start is kept in. */
export function defaultKeyFile(dataDir: string): string {
  return join(dataDir, "notary-key.pem");
}

function parsePrivate(pem: string, source: string): NotaryKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    // The message names the source, never the content: it may be a secret.
    throw new BeamlineError(
      "BL_NOTARY_KEY_INVALID",
      `the notary key from ${source} is not a PEM private key`,
      {
        cause: error,
      },
    );
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new BeamlineError(
      "BL_NOTARY_KEY_INVALID",
      `the notary key from ${source} is ${privateKey.asymmetricKeyType}, not Ed25519: generate one with \`openssl genpkey -algorithm ed25519\``,
    );
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), source };
}

const isErrno = (error: unknown, code: string) => (error as NodeJS.ErrnoException | undefined)?.code === code;

/**
 * Loads the notary's Ed25519 key: `settings.key` (BEAMLINE_NOTARY_KEY), else `settings.keyFile`
 * (BEAMLINE_NOTARY_KEY_FILE), else `<dataDir>/notary-key.pem`. With `create`, a missing file in
 * the data directory is generated (mode 0600, created exclusively, so two processes starting
 * together end up with the same key). Throws `BL_NOTARY_KEY_INVALID`.
 */
export async function loadNotaryKey(
  settings: NotaryKeySettings,
  options: { create: boolean },
): Promise<NotaryKey> {
  if (settings.key) return parsePrivate(settings.key, "BEAMLINE_NOTARY_KEY");
  if (settings.keyFile) {
    const pem = await readFile(settings.keyFile, "utf8").catch((error: unknown) => {
      throw new BeamlineError(
        "BL_NOTARY_KEY_INVALID",
        `cannot read the notary key file ${settings.keyFile}`,
        {
          cause: error,
        },
      );
    });
    return parsePrivate(pem, settings.keyFile);
  }
  const file = defaultKeyFile(settings.dataDir);
  try {
    return parsePrivate(await readFile(file, "utf8"), file);
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
    if (!options.create) {
      throw new BeamlineError(
        "BL_NOTARY_KEY_INVALID",
        `no notary key at ${file}: start Beamline with the notary role once, or set BEAMLINE_NOTARY_KEY_FILE`,
      );
    }
  }
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await mkdir(settings.dataDir, { recursive: true });
  try {
    await writeFile(file, pem, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process generated it first: use theirs, so both sign with one key.
    if (isErrno(error, "EEXIST")) return parsePrivate(await readFile(file, "utf8"), file);
    throw error;
  }
  return parsePrivate(pem, file);
}

/** Reads a public key (PEM; a private key file also works, its public half is taken) for verification. */
export async function readPublicKeyFile(file: string): Promise<{ publicKey: KeyObject; keyId: string }> {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(await readFile(file, "utf8"));
  } catch (error) {
    throw new BeamlineError("BL_NOTARY_KEY_INVALID", `${file} holds no PEM public key`, { cause: error });
  }
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw new BeamlineError(
      "BL_NOTARY_KEY_INVALID",
      `${file} holds a ${publicKey.asymmetricKeyType} key, not Ed25519`,
    );
  }
  return { publicKey, keyId: keyIdOf(publicKey) };
}

/** The public key as PEM (SPKI), what `beamline audit pubkey` prints. */
export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ type: "spki", format: "pem" }).toString();
}
