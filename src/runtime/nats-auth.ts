import { join, resolve } from "node:path";
import {
  adminCredsPath,
  authFromCreds,
  authFromCredsFile,
  authFromSettings,
  type ConnectionAuth,
  mintCredential,
  type NatsAuthority,
  type NatsRole,
  openAuthority,
  permissionsFor,
  serverAuthConfig,
  writeSecretFile,
} from "../access/index.js";
import type { BeamlineConfig } from "../config/index.js";
import type { Logger } from "../observability/index.js";

/** The subjects of the configured NATS-service providers (the worker calls them). */
export function providerSubjectsOf(config: BeamlineConfig): string[] {
  return config.providers.flatMap((p) =>
    p.kind === "nats-service" ? [p.subject ?? `bl.provider.${p.name}`] : [],
  );
}

/** What the embedded server needs to run with auth, and how this process connects to it. */
export interface EmbeddedAuth {
  authority: NatsAuthority;
  /** The generated nats-server configuration (operator, accounts, resolver). */
  configFile: string;
  /** The operator's identity: applies the topology at start. */
  admin: ConnectionAuth;
  /** This process's own identity: a user with exactly its roles' permissions, minted now. */
  process: ConnectionAuth;
}

/**
 * Opens (on first start: creates) the data directory's NATS authority, writes the embedded
 * server's auth configuration with the account's current JWT (so revocations made while the
 * server was down apply), and mints this process's user for `config.roles`.
 */
export async function prepareEmbeddedAuth(config: BeamlineConfig, log: Logger): Promise<EmbeddedAuth> {
  const { authority, created } = await openAuthority(config.dataDir, { create: true });
  if (created) {
    // The paths only, once: the secrets stay in their 0600 files.
    log.info(
      { authDir: authority.dir, adminCreds: adminCredsPath(config.dataDir) },
      "generated the NATS authority: the embedded nats-server runs with auth; CLI commands use the admin credential",
    );
  }
  const configFile = join(authority.dir, "nats-server.conf");
  await writeSecretFile(configFile, serverAuthConfig(authority, resolve(config.dataDir, "nats", "jwt")));
  const roles = config.roles as NatsRole[];
  const minted = await mintCredential(authority, {
    roles,
    record: false,
    permissions: (inboxPrefix) =>
      permissionsFor(roles, { inboxPrefix, providerSubjects: providerSubjectsOf(config) }),
  });
  return {
    authority,
    configFile,
    admin: await authFromCredsFile(adminCredsPath(config.dataDir)),
    process: await authFromCreds(minted.creds),
  };
}

/** How a process connects to an external NATS (NATS_URL): the credential settings, or none. */
export function externalAuth(config: BeamlineConfig): Promise<ConnectionAuth> {
  return authFromSettings(config);
}
