import { access, mkdir } from "node:fs/promises";
import type { Command } from "commander";
import {
  type CredentialRecord,
  type IssuedCredential,
  mintCredential,
  NATS_ROLES,
  type NatsAuthority,
  type NatsRole,
  openAuthority,
  permissionsFor,
  pushAccountJwt,
  revokeCredential,
  serverAuthConfig,
  TENANT_SCOPED_ROLES,
  writeSecretFile,
} from "../../access/index.js";
import { type BeamlineConfig, loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { runningEmbeddedNatsUrl } from "../../runtime/index.js";
import { type CommandOutput, formatTable, processOutput } from "../table.js";

interface IssueOptions {
  role: string;
  tenant?: string;
  out?: string;
  json?: boolean;
}

function parseRoles(text: string): NatsRole[] {
  const roles = text.split(",").map((r) => r.trim());
  const unknown = roles.filter((r) => !(NATS_ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `unknown role(s) ${unknown.join(", ")}: use ${NATS_ROLES.join(", ")}`,
    );
  }
  return roles as NatsRole[];
}

/** Mints a credential for `roles` (optionally tenant-scoped) and records it in the authority. */
export async function issueRoleCredential(
  authority: NatsAuthority,
  config: Pick<BeamlineConfig, "providers">,
  roles: NatsRole[],
  tenant: string | undefined,
): Promise<IssuedCredential> {
  if (tenant && !roles.every((r) => TENANT_SCOPED_ROLES.has(r))) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `--tenant scopes only ${[...TENANT_SCOPED_ROLES].join(" and ")}; ${roles.join(",")} serve every tenant`,
    );
  }
  const providerSubjects = config.providers.flatMap((p) =>
    p.kind === "nats-service" ? [p.subject ?? `bl.provider.${p.name}`] : [],
  );
  return mintCredential(authority, {
    roles,
    ...(tenant ? { tenant } : {}),
    permissions: (inboxPrefix) =>
      permissionsFor(roles, { inboxPrefix, providerSubjects, ...(tenant ? { tenant } : {}) }),
  });
}

function recordRow(record: CredentialRecord): Array<string | undefined> {
  return [
    record.id,
    record.roles.join(","),
    record.tenant ?? record.producerId,
    record.publicKey,
    record.issuedAt,
    record.revokedAt ? `revoked ${record.revokedAt}` : "active",
  ];
}

const HEADERS = ["ID", "ROLES", "TENANT/PRODUCER", "PUBLIC KEY", "ISSUED", "STATUS"];

/** The NATS to push an account update to: NATS_URL, else the embedded server if it runs. */
async function reachableServer(config: BeamlineConfig): Promise<string | undefined> {
  return config.natsUrl ?? (await runningEmbeddedNatsUrl(config.dataDir));
}

/** `beamline credentials issue|list|revoke|init`: NATS user credentials (docs/security.md). */
export function registerCredentialsCommands(program: Command, output: CommandOutput = processOutput): void {
  const credentials = program
    .command("credentials")
    .description("NATS credentials: least-privilege users per role, read-only auditors and usage readers");

  credentials
    .command("issue")
    .description("mint a NATS credential for a role (shown once; the secret is never stored)")
    .requiredOption("--role <role>", `${NATS_ROLES.join(", ")}; several comma-separated for one process`)
    .option("--tenant <tenant>", "scope an auditor or usage-reader to one tenant")
    .option("--out <file>", "write the creds file there (mode 0600) instead of printing it")
    .option("--json", "print JSON")
    .action(async (options: IssueOptions) => {
      const config = loadConfigFromEnv();
      const { authority } = await openAuthority(config.dataDir, { create: false });
      const issued = await issueRoleCredential(authority, config, parseRoles(options.role), options.tenant);
      if (options.out) await writeSecretFile(options.out, issued.creds);
      const shown = options.out ? { credsFile: options.out } : { creds: issued.creds };
      if (options.json) {
        output.out(`${JSON.stringify({ ...issued.record, ...shown }, null, 2)}\n`);
      } else {
        output.out(formatTable(HEADERS, [recordRow(issued.record)]));
        if (options.out) output.note(`creds written to ${options.out} (mode 0600)\n`);
        else output.out(`\n${issued.creds}\n`);
        output.note(
          `connect with NATS_CREDS=<this file>; its inbox prefix is ${issued.record.inboxPrefix} (Beamline's clients set it themselves)\n`,
        );
      }
    });

  credentials
    .command("list")
    .description("every credential issued from this data directory (never their secrets)")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const config = loadConfigFromEnv();
      const { authority } = await openAuthority(config.dataDir, { create: false });
      const records = authority.state.credentials;
      if (options.json) output.out(`${JSON.stringify(records, null, 2)}\n`);
      else output.out(formatTable(HEADERS, records.map(recordRow)));
    });

  credentials
    .command("revoke <id>")
    .description("revoke a credential (by id or public key); the server refuses it within seconds")
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean }) => {
      const config = loadConfigFromEnv();
      const { authority } = await openAuthority(config.dataDir, { create: false });
      const record = await revokeCredential(authority, id);
      const server = await reachableServer(config);
      if (server) await pushAccountJwt(authority, server.split(","));
      const pushed = server !== undefined;
      if (options.json) output.out(`${JSON.stringify({ ...record, pushed }, null, 2)}\n`);
      else {
        output.out(formatTable(HEADERS, [recordRow(record)]));
        output.note(
          pushed
            ? "the server has the revocation: the credential's connections are closed and it cannot connect again\n"
            : "no server running: the revocation applies when the embedded server next starts\n",
        );
      }
    });

  credentials
    .command("init")
    .description("create the NATS authority and a server config for a NATS you run (docker-compose)")
    .requiredOption(
      "--server-config <file>",
      "where to write the nats-server auth configuration (include it with -c)",
    )
    .option("--resolver-dir <dir>", "where that server keeps account JWTs", "/data/jwt")
    .option("--creds-dir <dir>", "write one creds file per role listed in --roles there")
    .option(
      "--roles <roles>",
      "processes to mint creds for, e.g. gateway+worker+billing+projector+notary,admin",
      "",
    )
    .option("--json", "print JSON")
    .action(
      async (options: {
        serverConfig: string;
        resolverDir: string;
        credsDir?: string;
        roles: string;
        json?: boolean;
      }) => {
        const config = loadConfigFromEnv();
        const { authority, created } = await openAuthority(config.dataDir, { create: true });
        await writeSecretFile(options.serverConfig, serverAuthConfig(authority, options.resolverDir));
        const written: Array<{ file: string; id: string }> = [];
        if (options.credsDir) await mkdir(options.credsDir, { recursive: true, mode: 0o700 });
        // Creds files already there are kept: init runs at every `compose up`.
        for (const set of options.roles.split(",").filter(Boolean)) {
          if (!options.credsDir) throw new BeamlineError("BL_BAD_REQUEST", "--roles needs --creds-dir");
          const roles = parseRoles(set.replaceAll("+", ","));
          const file = `${options.credsDir}/${roles.join("+")}.creds`;
          if (
            await access(file).then(
              () => true,
              () => false,
            )
          )
            continue;
          const issued = await issueRoleCredential(authority, config, roles, undefined);
          await writeSecretFile(file, issued.creds);
          written.push({ file, id: issued.record.id });
        }
        const result = { created, serverConfig: options.serverConfig, written };
        if (options.json) output.out(`${JSON.stringify(result, null, 2)}\n`);
        else {
          output.out(`${created ? "created" : "reused"} the NATS authority in ${authority.dir}\n`);
          output.out(`server auth config: ${options.serverConfig}\n`);
          for (const w of written) output.out(`creds ${w.id}: ${w.file}\n`);
        }
      },
    );
}
