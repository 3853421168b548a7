import { readFile } from "node:fs/promises";
import { fromSeed, parseCreds } from "@nats-io/jwt";
import {
  type Authenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import { withNativeEd25519 } from "./native-keys.js";

/** How a process authenticates to NATS, and the inbox prefix its credential allows. */
export interface ConnectionAuth {
  authenticator?: Authenticator;
  /** The inbox prefix to use (replies arrive under it); unset: the client's default `_INBOX`. */
  inboxPrefix?: string;
}

/** The NATS credential settings (NATS_CREDS, NATS_USER/NATS_PASSWORD, NATS_TOKEN). Secrets: never logged. */
export interface NatsCredentialSettings {
  natsCreds?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  natsToken?: string | undefined;
}

const OWN_INBOX = /^(_INBOX_[A-Za-z0-9_-]+)\.>$/;

/**
 * Authentication from a creds file's text. A credential Beamline minted allows subscribing
 * only to its own inbox prefix (`_INBOX_<id>.>`), so that prefix is read from the JWT's
 * permissions and used for every reply; other creds keep the default inbox.
 */
export async function authFromCreds(creds: string): Promise<ConnectionAuth> {
  const encoder = new TextEncoder();
  let parsed: Awaited<ReturnType<typeof parseCreds>>;
  let authenticator: Authenticator;
  try {
    parsed = await parseCreds(encoder.encode(creds));
    authenticator = signedJwtAuthenticator(parsed.jwt, encoder.encode(parsed.key));
  } catch (error) {
    throw new BeamlineError("BL_NATS_AUTH", "the NATS creds file is not a valid user credential", {
      cause: error,
    });
  }
  const allowed = parsed.uc.nats.sub?.allow ?? [];
  const own = allowed.map((s) => OWN_INBOX.exec(s)?.[1]).find(Boolean);
  return { authenticator, ...(own ? { inboxPrefix: own } : {}) };
}

/**
 * What nats.js's `credsAuthenticator` sends on each (re)connect — the JWT, the user's public
 * key and its signature of the server's nonce — with the key pair derived once and signing
 * native (see native-keys.ts), instead of derived in pure JS on every connect.
 */
function signedJwtAuthenticator(jwt: string, seed: Uint8Array): Authenticator {
  const user = withNativeEd25519(fromSeed(seed));
  const nkey = user.getPublicKey();
  return (nonce?: string) => ({
    jwt,
    nkey,
    sig: nonce ? Buffer.from(user.sign(new TextEncoder().encode(nonce))).toString("base64") : "",
  });
}

/** Authentication from a creds file on disk. */
export async function authFromCredsFile(path: string): Promise<ConnectionAuth> {
  const text = await readFile(path, "utf8").catch((error) => {
    throw new BeamlineError("BL_NATS_AUTH", `cannot read the NATS creds file ${path}`, { cause: error });
  });
  return authFromCreds(text);
}

/**
 * Authentication for an external NATS (NATS_URL) from the settings: a creds file, else user and
 * password, else a token, else none (a server without auth).
 */
export async function authFromSettings(settings: NatsCredentialSettings): Promise<ConnectionAuth> {
  if (settings.natsCreds) return authFromCredsFile(settings.natsCreds);
  if (settings.natsUser) {
    return { authenticator: usernamePasswordAuthenticator(settings.natsUser, settings.natsPassword ?? "") };
  }
  if (settings.natsToken) return { authenticator: tokenAuthenticator(settings.natsToken) };
  return {};
}
