import type { Command } from "commander";
import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { purgeTenantCache } from "../../stages/index.js";
import {
  disableTenantInputSchema,
  type ErasedTenant,
  openTenancyAdmin,
  parseAdminInput,
  tenantIdSchema,
} from "../../tenancy/index.js";
import { TenantKeys } from "../../vault/index.js";
import { connectForCommand, signedStoreForCommand } from "../nats-target.js";
import { type CommandOutput, processOutput } from "../table.js";

interface EraseOptions {
  yes?: boolean;
  json?: boolean;
  reason?: string;
}

/**
 * `beamline tenants erase <id> --yes`: crypto-shreds the tenant (docs/security.md). Needs no
 * master key: it destroys the wrapped data key, it never unwraps it.
 */
export async function tenantsErase(
  id: string,
  options: EraseOptions,
  output: CommandOutput = processOutput,
): Promise<ErasedTenant> {
  const tenant = parseAdminInput(tenantIdSchema, id);
  if (!options.yes) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `erasing ${tenant} destroys its data key: its prompts and completions become unreadable forever, in the streams and in every backup. Run again with --yes to do it.`,
    );
  }
  const input = parseAdminInput(
    disableTenantInputSchema,
    options.reason !== undefined ? { reason: options.reason } : {},
  );
  const config = loadConfigFromEnv();
  const nc = await connectForCommand(config, "tenants-erase");
  try {
    // Signed, as every configuration write: the projectors ignore an unsigned tenant.erased.
    const admin = await openTenancyAdmin(await signedStoreForCommand(config, nc));
    const keys = await TenantKeys.open(nc, undefined, { cacheMaxEntries: 1, cacheTtlMs: 1 });
    const erased = await admin.eraseTenant(tenant, keys, input);
    // Its cached answers were sealed with the destroyed key; removing them frees the space at once.
    const cachePurged = await purgeTenantCache(nc, tenant);
    if (options.json) output.out(`${JSON.stringify({ ...erased, cachePurged }, null, 2)}\n`);
    else {
      output.out(
        `erased ${erased.tenant} at ${erased.erasedAt}: ${erased.keyDestroyed ? "data key destroyed" : "it had no data key"}, ${cachePurged} cached answer(s) removed; usage and billing records are kept\n`,
      );
    }
    return erased;
  } finally {
    await nc.close();
  }
}

/** Adds `erase` to `beamline tenants` (registered after it). */
export function registerContentCommands(program: Command): void {
  const tenants = program.commands.find((command) => command.name() === "tenants");
  if (!tenants) throw new Error("register the tenants command before the content commands");
  tenants
    .command("erase <id>")
    .description(
      "crypto-shred a tenant: destroy its data key (content unreadable everywhere), keep usage; irreversible",
    )
    .option("--yes", "confirm: the erasure cannot be undone")
    .option("--reason <reason>", "why, kept in the tenant.erased event")
    .option("--json", "print JSON")
    .action(async (id: string, options: EraseOptions) => {
      await tenantsErase(id, options);
    });
}
