import type { Command } from "commander";
import {
  hasAuthority,
  mintProducerCredentials,
  type NatsAuthority,
  openAuthority,
  revokeNatsUser,
} from "../../access/index.js";
import { type BeamlineConfig, loadConfigFromEnv } from "../../config/index.js";
import { runningEmbeddedNatsUrl } from "../../runtime/index.js";
import {
  type IssuedProducer,
  openProducerAdmin,
  type ProducerAdmin,
  type ProducerCredentialMinter,
  type ProducerView,
  parseAdminInput,
  tenantIdSchema,
} from "../../tenancy/index.js";
import { connectForCommand, signedStoreForCommand } from "../nats-target.js";
import { type CommandOutput, formatTable, processOutput } from "../table.js";

interface JsonOption {
  json?: boolean;
}

export interface ProducersIssueOptions extends JsonOption {
  tenant: string;
  label?: string;
  /** Model ids or aliases; repeat the option or separate with commas. */
  model?: string[];
  /** Per-producer quota limits as JSON, e.g. `{"requestsPerMinute":60}`. */
  limits?: string;
  readUsage?: boolean;
}

const HEADERS = [
  "PRODUCER ID",
  "TENANT",
  "LABEL",
  "STATUS",
  "CREATED",
  "REVOKED",
  "MODELS",
  "LIMITS",
  "USAGE",
];

function row(view: ProducerView): Array<string | undefined> {
  return [
    view.producerId,
    view.tenant,
    view.label,
    view.status,
    view.createdAt,
    view.revokedAt,
    view.models?.join(","),
    view.limits ? JSON.stringify(view.limits) : undefined,
    view.readUsage ? "read" : undefined,
  ];
}

function parseLimits(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // zod then reports "expected object" for `limits`.
  }
}

/**
 * `beamline producers issue --tenant T`: records the producer and prints its id, the subjects
 * it may use and — when NATS auth is on and a minter is given — its credentials, shown once.
 */
export async function producersIssue(
  admin: ProducerAdmin,
  options: ProducersIssueOptions,
  output: CommandOutput = processOutput,
  mintCredentials?: ProducerCredentialMinter,
): Promise<IssuedProducer> {
  const tenant = parseAdminInput(tenantIdSchema, options.tenant);
  const input: Record<string, unknown> = { readUsage: options.readUsage === true };
  if (options.label !== undefined) input.label = options.label;
  if (options.model !== undefined) {
    input.models = options.model
      .flatMap((m) => m.split(","))
      .map((m) => m.trim())
      .filter(Boolean);
  }
  if (options.limits !== undefined) input.limits = parseLimits(options.limits);
  const issued = await admin.issue(tenant, input, mintCredentials);
  if (options.json) {
    output.out(`${JSON.stringify(issued, null, 2)}\n`);
  } else {
    output.out(`${issued.producerId}\n`);
    output.out(`publish requests on ${issued.grant.publish.join(", ")}\n`);
    output.out(`receive replies on ${issued.grant.subscribe.join(", ")}\n`);
    if (issued.credentials) output.out(`${JSON.stringify(issued.credentials, null, 2)}\n`);
  }
  output.note(
    issued.credentials
      ? `issued ${issued.producerId} for tenant ${issued.tenant}; store the credentials now, they are not shown again\n`
      : `issued ${issued.producerId} for tenant ${issued.tenant} (NATS runs without auth: no credentials to show)\n`,
  );
  return issued;
}

/** `beamline producers list [--tenant T]`. */
export async function producersList(
  admin: ProducerAdmin,
  options: JsonOption & { tenant?: string },
  output: CommandOutput = processOutput,
): Promise<ProducerView[]> {
  const tenant = options.tenant === undefined ? undefined : parseAdminInput(tenantIdSchema, options.tenant);
  const views = await admin.list(tenant);
  output.out(options.json ? `${JSON.stringify(views, null, 2)}\n` : formatTable(HEADERS, views.map(row)));
  return views;
}

/** `beamline producers revoke <id>`: the ingress refuses its requests within a second. */
export async function producersRevoke(
  admin: ProducerAdmin,
  producerId: string,
  options: JsonOption,
  output: CommandOutput = processOutput,
): Promise<ProducerView> {
  const view = await admin.revoke(producerId);
  output.out(options.json ? `${JSON.stringify(view, null, 2)}\n` : formatTable(HEADERS, [row(view)]));
  return view;
}

/**
 * The data directory's NATS authority, when this deployment runs NATS with Beamline's own
 * auth (the embedded server, or docker-compose's shared volume); undefined without one, and
 * then producers are identified by their ingress subject alone (NATS without auth).
 */
async function producerAuthority(config: BeamlineConfig): Promise<NatsAuthority | undefined> {
  if (!(await hasAuthority(config.dataDir))) return undefined;
  return (await openAuthority(config.dataDir, { create: false })).authority;
}

/** Mints a producer's NATS user with exactly its grant's subjects (shown once, never stored). */
function minterFor(authority: NatsAuthority): ProducerCredentialMinter {
  return async (grant) => {
    const readUsage = grant.subscribe.some((subject) => subject.startsWith("bl.usage."));
    const issued = await mintProducerCredentials(authority, grant.tenant, grant.producerId, { readUsage });
    return { credentialId: issued.record.id, inboxPrefix: issued.record.inboxPrefix, creds: issued.creds };
  };
}

/**
 * Revokes every NATS user minted for `producerId` and pushes the account update, so the server
 * closes its connections within seconds (the ingress already refuses it through the registry).
 */
async function revokeProducerUsers(config: BeamlineConfig, authority: NatsAuthority, producerId: string) {
  const servers = config.natsUrl ?? (await runningEmbeddedNatsUrl(config.dataDir));
  const live = authority.state.credentials.filter((c) => c.producerId === producerId && !c.revokedAt);
  for (const record of live) await revokeNatsUser(authority, record.publicKey, servers?.split(","));
}

async function withProducerAdmin(
  action: (
    admin: ProducerAdmin,
    auth: { config: BeamlineConfig; authority: NatsAuthority | undefined },
  ) => Promise<unknown>,
): Promise<void> {
  const config = loadConfigFromEnv();
  const nc = await connectForCommand(config, "producers");
  try {
    const authority = await producerAuthority(config);
    await action(await openProducerAdmin(await signedStoreForCommand(config, nc)), { config, authority });
  } finally {
    await nc.close();
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Registers `beamline producers issue|list|revoke` on the program. */
export function registerProducersCommand(program: Command): void {
  const producers = program
    .command("producers")
    .description("producer credentials: publish requests straight onto NATS as one tenant");
  producers
    .command("issue")
    .description("issue a producer for a tenant; its credentials (with NATS auth) are shown once")
    .requiredOption("--tenant <tenant>", "tenant id")
    .option("--label <label>", "a name to recognise the producer by")
    .option("--model <model>", "a model id or alias it may use (repeat, or comma-separate)", collect)
    .option("--models <models>", "same as --model", collect)
    .option("--limits <json>", "per-producer quota limits, e.g. '{\"requestsPerMinute\":60}'")
    .option("--read-usage", "it may also read the tenant's usage stream")
    .option("--json", "print JSON")
    .action((options: ProducersIssueOptions & { models?: string[] }) => {
      const { models, ...rest } = options;
      const model = [...(rest.model ?? []), ...(models ?? [])];
      return withProducerAdmin((admin, { authority }) =>
        producersIssue(
          admin,
          model.length > 0 ? { ...rest, model } : rest,
          processOutput,
          authority ? minterFor(authority) : undefined,
        ),
      );
    });
  producers
    .command("list")
    .description("list producers (status, scope, limits)")
    .option("--tenant <tenant>", "only this tenant's producers")
    .option("--json", "print JSON")
    .action((options: JsonOption & { tenant?: string }) =>
      withProducerAdmin((admin) => producersList(admin, options)),
    );
  producers
    .command("revoke <producerId>")
    .description("revoke a producer: the ingress refuses its requests within a second")
    .option("--json", "print JSON")
    .action((producerId: string, options: JsonOption) =>
      withProducerAdmin(async (admin, { config, authority }) => {
        await producersRevoke(admin, producerId, options);
        if (authority) await revokeProducerUsers(config, authority, producerId);
      }),
    );
}
