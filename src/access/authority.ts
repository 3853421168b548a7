import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type Account,
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type KeyPair,
} from "@nats-io/jwt";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { withNativeEd25519 } from "./native-keys.js";
import type { SubjectPermissions } from "./permissions.js";

/**
 * Beamline's NATS authority (decentralized JWT auth, docs/security.md): an operator, the
 * system account and one application account holding every stream, their signing keys, and a
 * record of the user credentials issued. It lives in `<dataDir>/auth` (directory 0700, files
 * 0600) and is created once; whoever holds it can mint and revoke credentials without touching
 * the server's configuration, because the server resolves accounts through its own system
 * account (the `full` resolver).
 */
export interface NatsAuthority {
  readonly dir: string;
  readonly operator: KeyPair;
  readonly systemAccount: KeyPair;
  readonly account: KeyPair;
  /** The operator JWT (self-signed); the server trusts it. */
  readonly operatorJwt: string;
  readonly systemAccountJwt: string;
  /** The application account's JWT as last signed (with its revocations). */
  accountJwt: string;
  state: AuthorityState;
}

const credentialRecordSchema = z.object({
  id: z.string(),
  /** What the credential is for: a role list (`worker`, `auditor`, …) or `producer`. */
  roles: z.array(z.string()),
  tenant: z.string().optional(),
  producerId: z.string().optional(),
  publicKey: z.string(),
  inboxPrefix: z.string(),
  issuedAt: z.string(),
  revokedAt: z.string().optional(),
});
/** What the authority remembers of an issued credential: never its secret. */
export type CredentialRecord = z.infer<typeof credentialRecordSchema>;

const stateSchema = z.object({
  version: z.literal(1),
  credentials: z.array(credentialRecordSchema),
  /** User public key → revocation time (unix seconds), as the account JWT carries them. */
  revocations: z.record(z.string(), z.number()),
});
type AuthorityState = z.infer<typeof stateSchema>;

const AUTH_DIR = "auth";
const FILES = {
  operatorSeed: "operator.nk",
  systemAccountSeed: "system-account.nk",
  accountSeed: "account.nk",
  operatorJwt: "operator.jwt",
  systemAccountJwt: "system-account.jwt",
  accountJwt: "account.jwt",
  state: "credentials.json",
  /** A system-account user: pushes account updates (revocations) to the server. */
  systemCreds: "system.creds",
  /** The operator CLI's credential against the embedded server. */
  adminCreds: "admin.creds",
} as const;

const APPLICATION_ACCOUNT = "BEAMLINE";
const SYSTEM_ACCOUNT = "SYS";
const UNLIMITED = -1;
/** Account limits left unset in a JWT are zero (no connections at all): state them. */
const CORE_LIMITS = {
  subs: UNLIMITED,
  data: UNLIMITED,
  payload: UNLIMITED,
  imports: UNLIMITED,
  exports: UNLIMITED,
  wildcards: true,
  conn: UNLIMITED,
  leaf: UNLIMITED,
};

/** Where the authority of a data directory lives. */
export function authorityDir(dataDir: string): string {
  return join(dataDir, AUTH_DIR);
}

/** Path of the admin credential of a data directory (the CLI's identity on the embedded server). */
export function adminCredsPath(dataDir: string): string {
  return join(authorityDir(dataDir), FILES.adminCreds);
}

/** Path of the authority's system-account credential (it pushes account updates). */
export function systemCredsOf(authority: NatsAuthority): string {
  return join(authority.dir, FILES.systemCreds);
}

/** Writes a secret file readable by its owner only, atomically (a reader never sees half). */
export async function writeSecretFile(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The application account's claims: JetStream on, no limits, the given revocations. */
async function signAccount(
  account: KeyPair,
  operator: KeyPair,
  revocations: Record<string, number>,
): Promise<string> {
  const claims: Partial<Account> = {
    limits: {
      ...CORE_LIMITS,
      mem_storage: UNLIMITED,
      disk_storage: UNLIMITED,
      streams: UNLIMITED,
      consumer: UNLIMITED,
    },
    ...(Object.keys(revocations).length > 0 ? { revocations } : {}),
  };
  return encodeAccount(APPLICATION_ACCOUNT, account, claims, { signer: operator });
}

/** Mints a user of an account: a fresh nkey and a JWT carrying `permissions`. Returns the creds file text. */
async function mintUser(
  issuer: KeyPair,
  name: string,
  permissions: SubjectPermissions | undefined,
): Promise<{ publicKey: string; creds: string }> {
  const user = withNativeEd25519(createUser());
  const jwt = await encodeUser(
    name,
    user,
    issuer,
    permissions
      ? { pub: permissions.pub, sub: permissions.sub }
      : { pub: { allow: [">"], deny: [] }, sub: { allow: [">"], deny: [] } },
  );
  return { publicKey: user.getPublicKey(), creds: decoder.decode(fmtCreds(jwt, user)) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readSeed(dir: string, file: string): Promise<KeyPair> {
  return withNativeEd25519(fromSeed(encoder.encode((await readFile(join(dir, file), "utf8")).trim())));
}

/** Whether `dataDir` holds a NATS authority (Beamline's own auth runs this deployment's NATS). */
export async function hasAuthority(dataDir: string): Promise<boolean> {
  return exists(join(authorityDir(dataDir), FILES.state));
}

/**
 * Opens the authority of `dataDir`, creating it on first use (`created` then says so, and the
 * caller prints where the new credentials are, once). Without `create`, a missing authority is
 * an error that says how to make one.
 */
export async function openAuthority(
  dataDir: string,
  options: { create: boolean },
): Promise<{ authority: NatsAuthority; created: boolean }> {
  const dir = authorityDir(dataDir);
  const created = !(await exists(join(dir, FILES.state)));
  if (created) {
    if (!options.create) {
      throw new BeamlineError(
        "BL_NATS_AUTH",
        `no NATS authority in ${dir}: start Beamline once with this data directory (it creates one), or set NATS_URL and NATS_CREDS`,
      );
    }
    await createAuthority(dir);
  }
  const [operator, systemAccount, account] = await Promise.all([
    readSeed(dir, FILES.operatorSeed),
    readSeed(dir, FILES.systemAccountSeed),
    readSeed(dir, FILES.accountSeed),
  ]);
  const state = stateSchema.parse(JSON.parse(await readFile(join(dir, FILES.state), "utf8")));
  return {
    created,
    authority: {
      dir,
      operator,
      systemAccount,
      account,
      operatorJwt: (await readFile(join(dir, FILES.operatorJwt), "utf8")).trim(),
      systemAccountJwt: (await readFile(join(dir, FILES.systemAccountJwt), "utf8")).trim(),
      accountJwt: (await readFile(join(dir, FILES.accountJwt), "utf8")).trim(),
      state,
    },
  };
}

async function createAuthority(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const operator = withNativeEd25519(createOperator());
  const systemAccount = withNativeEd25519(createAccount());
  const account = withNativeEd25519(createAccount());
  const operatorJwt = await encodeOperator("beamline", operator, {
    system_account: systemAccount.getPublicKey(),
  });
  const systemAccountJwt = await encodeAccount(
    SYSTEM_ACCOUNT,
    systemAccount,
    { limits: CORE_LIMITS },
    { signer: operator },
  );
  const accountJwt = await signAccount(account, operator, {});
  const systemUser = await mintUser(systemAccount, "beamline-system", undefined);
  const admin = await mintUser(account, "beamline-admin", undefined);
  const state: AuthorityState = {
    version: 1,
    credentials: [
      {
        id: "admin",
        roles: ["admin"],
        publicKey: admin.publicKey,
        inboxPrefix: "_INBOX",
        issuedAt: new Date().toISOString(),
      },
    ],
    revocations: {},
  };
  await writeSecretFile(join(dir, FILES.operatorSeed), decoder.decode(operator.getSeed()));
  await writeSecretFile(join(dir, FILES.systemAccountSeed), decoder.decode(systemAccount.getSeed()));
  await writeSecretFile(join(dir, FILES.accountSeed), decoder.decode(account.getSeed()));
  await writeSecretFile(join(dir, FILES.operatorJwt), operatorJwt);
  await writeSecretFile(join(dir, FILES.systemAccountJwt), systemAccountJwt);
  await writeSecretFile(join(dir, FILES.accountJwt), accountJwt);
  await writeSecretFile(join(dir, FILES.systemCreds), systemUser.creds);
  await writeSecretFile(join(dir, FILES.adminCreds), admin.creds);
  // Written last: its presence marks a complete authority.
  await writeSecretFile(join(dir, FILES.state), JSON.stringify(state, null, 2));
}

async function saveState(authority: NatsAuthority): Promise<void> {
  await writeSecretFile(join(authority.dir, FILES.accountJwt), authority.accountJwt);
  await writeSecretFile(join(authority.dir, FILES.state), JSON.stringify(authority.state, null, 2));
}

/** A newly minted credential: its record and the creds file text (shown once, never stored). */
export interface IssuedCredential {
  record: CredentialRecord;
  /** The creds file (user JWT + nkey seed). A secret: write it 0600 or print it once. */
  creds: string;
}

/**
 * Mints a user of the application account with `permissions`. `record: false` mints an
 * ephemeral identity (a role process's own, minted at each start) that is not listed.
 */
export async function mintCredential(
  authority: NatsAuthority,
  request: {
    roles: string[];
    permissions: (inboxPrefix: string) => SubjectPermissions;
    tenant?: string;
    producerId?: string;
    record?: boolean;
  },
): Promise<IssuedCredential> {
  const id = randomBytes(8).toString("hex");
  const inboxPrefix = `_INBOX_${id}`;
  const name = [`beamline-${request.roles.join("+")}`, request.tenant, request.producerId, id]
    .filter(Boolean)
    .join(".");
  const user = await mintUser(authority.account, name, request.permissions(inboxPrefix));
  const record: CredentialRecord = {
    id,
    roles: request.roles,
    ...(request.tenant ? { tenant: request.tenant } : {}),
    ...(request.producerId ? { producerId: request.producerId } : {}),
    publicKey: user.publicKey,
    inboxPrefix,
    issuedAt: new Date().toISOString(),
  };
  if (request.record !== false) {
    authority.state.credentials.push(record);
    await saveState(authority);
  }
  return { record, creds: user.creds };
}

/**
 * Records the revocation of a user (by credential id or public key) and re-signs the account
 * JWT with it. The caller pushes the new JWT to the server ({@link pushAccountJwt}); a stopped
 * embedded server picks it up from the config at its next start.
 */
export async function revokeCredential(
  authority: NatsAuthority,
  idOrPublicKey: string,
): Promise<CredentialRecord> {
  const record = authority.state.credentials.find(
    (c) => c.id === idOrPublicKey || c.publicKey === idOrPublicKey,
  );
  if (!record) {
    throw new BeamlineError(
      "BL_NOT_FOUND",
      `no credential ${idOrPublicKey}: see \`beamline credentials list\``,
    );
  }
  const now = new Date();
  record.revokedAt ??= now.toISOString();
  // Every JWT of this user issued up to now is refused; the server disconnects its connections.
  authority.state.revocations[record.publicKey] = Math.floor(now.getTime() / 1000);
  authority.accountJwt = await signAccount(
    authority.account,
    authority.operator,
    authority.state.revocations,
  );
  await saveState(authority);
  return record;
}

/**
 * The auth part of a nats-server configuration for this authority: operator mode with the
 * `full` resolver (the server stores account JWTs under `resolverDir` and accepts updates from
 * the system account), preloaded with both accounts' current JWTs.
 */
export function serverAuthConfig(authority: NatsAuthority, resolverDir: string): string {
  const q = JSON.stringify;
  return [
    `operator: ${q(authority.operatorJwt)}`,
    `system_account: ${q(authority.systemAccount.getPublicKey())}`,
    // A user JWT with its permissions travels in the CONNECT line; the default 4 KB is too small.
    "max_control_line: 65536",
    "resolver: {",
    "  type: full",
    `  dir: ${q(resolverDir)}`,
    "  allow_delete: false",
    '  interval: "2m"',
    '  timeout: "1.9s"',
    "}",
    "resolver_preload: {",
    `  ${authority.systemAccount.getPublicKey()}: ${q(authority.systemAccountJwt)}`,
    `  ${authority.account.getPublicKey()}: ${q(authority.accountJwt)}`,
    "}",
    "",
  ].join("\n");
}
