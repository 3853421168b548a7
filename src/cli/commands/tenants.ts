import type { Command } from "commander";
import {
  createTenantInputSchema,
  disableTenantInputSchema,
  parseAdminInput,
  type TenancyAdmin,
  type TenantView,
  tenantIdSchema,
} from "../../tenancy/index.js";
import { type CommandOutput, formatTable, processOutput } from "../table.js";
import { withTenancyAdmin } from "./admin-session.js";

interface JsonOption {
  json?: boolean;
}

/** One tenant (a change) or a list, as a table or, with --json, as the object or array. */
function printTenants(tenants: TenantView | TenantView[], options: JsonOption, output: CommandOutput): void {
  if (options.json) {
    output.out(`${JSON.stringify(tenants, null, 2)}\n`);
    return;
  }
  const rows = Array.isArray(tenants) ? tenants : [tenants];
  output.out(
    formatTable(
      ["TENANT", "NAME", "STATUS", "CREATED", "REASON"],
      rows.map((t) => [t.id, t.name, t.status, t.createdAt, t.disabledReason]),
    ),
  );
}

/** `beamline tenants create <id> [--name]`. */
export async function tenantsCreate(
  admin: TenancyAdmin,
  id: string,
  options: JsonOption & { name?: string },
  output: CommandOutput = processOutput,
): Promise<TenantView> {
  const input = parseAdminInput(createTenantInputSchema, {
    id,
    ...(options.name !== undefined ? { name: options.name } : {}),
  });
  const tenant = await admin.createTenant(input);
  printTenants(tenant, options, output);
  return tenant;
}

/** `beamline tenants list`. */
export async function tenantsList(
  admin: TenancyAdmin,
  options: JsonOption,
  output: CommandOutput = processOutput,
): Promise<TenantView[]> {
  const tenants = await admin.listTenants();
  printTenants(tenants, options, output);
  return tenants;
}

/** `beamline tenants disable <id> [--reason]`: its keys are refused from now on, on every instance. */
export async function tenantsDisable(
  admin: TenancyAdmin,
  id: string,
  options: JsonOption & { reason?: string },
  output: CommandOutput = processOutput,
): Promise<TenantView> {
  const tenant = parseAdminInput(tenantIdSchema, id);
  const input = parseAdminInput(
    disableTenantInputSchema,
    options.reason !== undefined ? { reason: options.reason } : {},
  );
  const view = await admin.disableTenant(tenant, input);
  printTenants(view, options, output);
  return view;
}

/** `beamline tenants enable <id>`. */
export async function tenantsEnable(
  admin: TenancyAdmin,
  id: string,
  options: JsonOption,
  output: CommandOutput = processOutput,
): Promise<TenantView> {
  const view = await admin.enableTenant(parseAdminInput(tenantIdSchema, id));
  printTenants(view, options, output);
  return view;
}

/** Registers `beamline tenants create|list|disable|enable` on the program. */
export function registerTenantsCommand(program: Command): void {
  const tenants = program.command("tenants").description("tenants: create, list, disable, enable");
  tenants
    .command("create <id>")
    .description("create a tenant (ids are 1-64 of A-Z a-z 0-9 _ -, never reused)")
    .option("--name <name>", "display name (default: the id)")
    .option("--json", "print JSON")
    .action((id: string, options: JsonOption & { name?: string }) =>
      withTenancyAdmin("tenants", (admin) => tenantsCreate(admin, id, options)),
    );
  tenants
    .command("list")
    .description("list tenants and their status")
    .option("--json", "print JSON")
    .action((options: JsonOption) => withTenancyAdmin("tenants", (admin) => tenantsList(admin, options)));
  tenants
    .command("disable <id>")
    .description("disable a tenant: its keys are refused (403) until it is enabled again")
    .option("--reason <reason>", "why, kept in the event for the audit trail")
    .option("--json", "print JSON")
    .action((id: string, options: JsonOption & { reason?: string }) =>
      withTenancyAdmin("tenants", (admin) => tenantsDisable(admin, id, options)),
    );
  tenants
    .command("enable <id>")
    .description("enable a disabled tenant again")
    .option("--json", "print JSON")
    .action((id: string, options: JsonOption) =>
      withTenancyAdmin("tenants", (admin) => tenantsEnable(admin, id, options)),
    );
}
