import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { checkEventSignature, SIGNATURE_HEADER, SIGNING_KEY_MIN_BYTES, signEvent } from "../events/index.js";

export { SIGNATURE_HEADER };

/**
 * Beamline's event signing key and the trust rule built on it. The key never leaves this
 * object: logs name its `source` only.
 */
export interface EventSigningKey {
  readonly key: Uint8Array;
  /**
   * When signing began. Unsigned events the server stored before this moment are history
   * written before the upgrade that introduced signatures, and count; after it, an unsigned
   * event is a forgery. The store time is the server's, which no publisher can set.
   * Undefined: no unsigned event counts.
   */
  readonly since: Date | undefined;
  /** Where the key came from, for logs: an env variable's name or a file path. */
  readonly source: string;
}

/** How far a stored event is trusted to have been written by Beamline itself. */
export type EventTrust =
  /** Signed with this deployment's key, for the subject it is stored on. */
  | "signed"
  /** Unsigned, but stored before signing began (pre-upgrade history). */
  | "history"
  /** Unsigned and stored after signing began: anyone could have written it. */
  | "unsigned"
  /** Signed, but not with this key or not for this subject or payload. */
  | "forged";

/** What a reader knows about one stored message. */
export interface SignedMessage {
  subject: string;
  payload: Uint8Array;
  /** The `bl-sig` header, if any. */
  signature: string | undefined;
  /** The server's store time. */
  storedAt: Date;
}

/** Signs what Beamline writes and judges what it reads (docs/security.md, "Producers and the envelope"). */
export class EventSigner {
  constructor(private readonly signingKey: EventSigningKey) {}

  /** Where the key came from (never the key). */
  get source(): string {
    return this.signingKey.source;
  }

  /** The `bl-sig` header value for `payload` stored on `subject`. */
  sign(subject: string, payload: Uint8Array): string {
    return signEvent(this.signingKey.key, subject, payload);
  }

  trust(message: SignedMessage): EventTrust {
    const check = checkEventSignature(
      this.signingKey.key,
      message.subject,
      message.payload,
      message.signature,
    );
    if (check === "valid") return "signed";
    if (check === "invalid") return "forged";
    const since = this.signingKey.since;
    return since !== undefined && message.storedAt.getTime() < since.getTime() ? "history" : "unsigned";
  }

  /** True when a message counts as written by Beamline: signed, or pre-upgrade history. */
  isTrusted(message: SignedMessage): boolean {
    const trust = this.trust(message);
    return trust === "signed" || trust === "history";
  }
}

/** Where the key comes from, in order: the environment, the data directory. */
export interface EventSigningSettings {
  /** BEAMLINE_EVENT_SIGNING_KEY: base64url (or base64) of at least 32 bytes. */
  key?: string | undefined;
  /** BEAMLINE_EVENT_SIGNING_SINCE: ISO time signing began, for deployments that set the key by env. */
  since?: string | undefined;
  dataDir: string;
}

/** The file a key generated on first start is kept in (mode 0600). */
export function eventSigningKeyFile(dataDir: string): string {
  return join(dataDir, "event-signing.key");
}

const keyFileSchema = z.strictObject({
  /** base64url of the key bytes. */
  key: z.string().min(1),
  /** ISO time the key was generated: when signing began for this data directory. */
  since: z.iso.datetime(),
});

const isErrno = (error: unknown, code: string) => (error as NodeJS.ErrnoException | undefined)?.code === code;

function parseKey(text: string, source: string): Uint8Array {
  const bytes = Buffer.from(text.trim(), "base64url");
  if (bytes.length < SIGNING_KEY_MIN_BYTES) {
    // The message names the source, never the content: it is a secret.
    throw new BeamlineError(
      "BL_EVENT_SIGNING_KEY_INVALID",
      `the event signing key from ${source} must be base64url of at least ${SIGNING_KEY_MIN_BYTES} bytes: generate one with \`openssl rand -base64 32\``,
    );
  }
  return bytes;
}

/**
 * Loads the event signing key: `settings.key` (env), else `<dataDir>/event-signing.key`. With
 * `create`, a missing file is generated (32 random bytes, mode 0600, created exclusively, so two
 * processes starting together share one key); its `since` is the moment it was generated.
 * Operator commands pass `create: false`: a key they invented would sign events no running
 * Beamline accepts. Throws `BL_EVENT_SIGNING_KEY_INVALID`.
 */
export async function loadEventSigningKey(
  settings: EventSigningSettings,
  options: { create: boolean; now: Date },
): Promise<EventSigningKey> {
  if (settings.key) {
    const since = settings.since === undefined ? undefined : new Date(settings.since);
    return {
      key: parseKey(settings.key, "BEAMLINE_EVENT_SIGNING_KEY"),
      since,
      source: "BEAMLINE_EVENT_SIGNING_KEY",
    };
  }
  const file = eventSigningKeyFile(settings.dataDir);
  const read = async (): Promise<EventSigningKey> => {
    const parsed = keyFileSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    if (!parsed.success) {
      throw new BeamlineError("BL_EVENT_SIGNING_KEY_INVALID", `${file} is not an event signing key file`);
    }
    return { key: parseKey(parsed.data.key, file), since: new Date(parsed.data.since), source: file };
  };
  try {
    return await read();
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
    if (!options.create) {
      throw new BeamlineError(
        "BL_EVENT_SIGNING_KEY_INVALID",
        `no event signing key at ${file}: start Beamline once from this folder, or set BEAMLINE_EVENT_SIGNING_KEY to the deployment's key`,
      );
    }
  }
  const content = JSON.stringify({
    key: randomBytes(32).toString("base64url"),
    since: options.now.toISOString(),
  });
  await mkdir(settings.dataDir, { recursive: true });
  try {
    await writeFile(file, `${content}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process generated it first: use theirs, so both sign with one key.
    if (!isErrno(error, "EEXIST")) throw error;
  }
  return read();
}
