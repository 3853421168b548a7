import type { Command } from "commander";
import {
  type IssuedKey,
  issueKeyInputSchema,
  type KeyView,
  parseAdminInput,
  type RotatedKey,
  rotateKeyInputSchema,
  type TenancyAdmin,
  tenantIdSchema,
} from "../../tenancy/index.js";
import { type CommandOutput, formatTable, processOutput } from "../table.js";
import { parseDurationSeconds, withTenancyAdmin } from "./admin-session.js";

interface JsonOption {
  json?: boolean;
}

interface ExpiryOptions {
  expiresIn?: string;
  expiresAt?: string;
}

export interface KeysIssueOptions extends JsonOption, ExpiryOptions {
  tenant: string;
  label?: string;
  /** Model ids or aliases; repeat the option or separate with commas. */
  model?: string[];
  /** Per-key quota limits as JSON, e.g. `{"requestsPerMinute":60}`. */
  limits?: string;
}

export interface KeysRotateOptions extends JsonOption, ExpiryOptions {
  grace?: string;
}

function expiryInput(options: ExpiryOptions): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  if (options.expiresAt !== undefined) input.expiresAt = options.expiresAt;
  if (options.expiresIn !== undefined)
    input.expiresInSeconds = parseDurationSeconds(options.expiresIn, "--expires-in");
  return input;
}

function parseLimits(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // zod then reports "expected object" for `limits`.
  }
}

function keyRow(key: KeyView): Array<string | undefined> {
  return [
    key.keyId,
    key.tenant,
    `${key.prefix}…`,
    key.label,
    key.status,
    key.createdAt,
    key.expiresAt,
    key.models?.join(","),
    key.limits ? JSON.stringify(key.limits) : undefined,
  ];
}

const KEY_HEADERS = [
  "KEY ID",
  "TENANT",
  "PREFIX",
  "LABEL",
  "STATUS",
  "CREATED",
  "EXPIRES",
  "MODELS",
  "LIMITS",
];

/** Prints a new key: the key alone on stdout (for scripts), the rest as a note; or all as JSON. */
function printIssued(issued: IssuedKey, options: JsonOption, output: CommandOutput): void {
  if (options.json) {
    output.out(`${JSON.stringify(issued, null, 2)}\n`);
  } else {
    output.out(`${issued.key}\n`);
  }
  output.note(
    `issued ${issued.keyId} for tenant ${issued.tenant}; store the key now, it is not shown again\n`,
  );
}

/** `beamline keys issue --tenant <id>`: the key is printed once and never stored in clear. */
export async function keysIssue(
  admin: TenancyAdmin,
  options: KeysIssueOptions,
  output: CommandOutput = processOutput,
): Promise<IssuedKey> {
  const tenant = parseAdminInput(tenantIdSchema, options.tenant);
  const raw: Record<string, unknown> = { ...expiryInput(options) };
  if (options.label !== undefined) raw.label = options.label;
  if (options.model !== undefined)
    raw.models = options.model
      .flatMap((m) => m.split(","))
      .map((m) => m.trim())
      .filter(Boolean);
  if (options.limits !== undefined) raw.limits = parseLimits(options.limits);
  const issued = await admin.issueKey(tenant, parseAdminInput(issueKeyInputSchema, raw));
  printIssued(issued, options, output);
  return issued;
}

/** `beamline keys list [--tenant <id>]`: prefixes and metadata, never keys. */
export async function keysList(
  admin: TenancyAdmin,
  options: JsonOption & { tenant?: string },
  output: CommandOutput = processOutput,
): Promise<KeyView[]> {
  const tenant = options.tenant === undefined ? undefined : parseAdminInput(tenantIdSchema, options.tenant);
  const keys = await admin.listKeys(tenant);
  output.out(
    options.json ? `${JSON.stringify(keys, null, 2)}\n` : formatTable(KEY_HEADERS, keys.map(keyRow)),
  );
  return keys;
}

/** `beamline keys rotate <keyId> [--grace 1h]`: a new key now, the old one refused after the grace. */
export async function keysRotate(
  admin: TenancyAdmin,
  keyId: string,
  options: KeysRotateOptions,
  output: CommandOutput = processOutput,
): Promise<RotatedKey> {
  const raw: Record<string, unknown> = { ...expiryInput(options) };
  if (options.grace !== undefined) raw.graceSeconds = parseDurationSeconds(options.grace, "--grace");
  const rotated = await admin.rotateKey(keyId, parseAdminInput(rotateKeyInputSchema, raw));
  if (options.json) {
    output.out(`${JSON.stringify(rotated, null, 2)}\n`);
  } else {
    output.out(`${rotated.issued.key}\n`);
  }
  output.note(
    `issued ${rotated.issued.keyId} replacing ${keyId}, which is refused from ${rotated.replaced.revokedAt}; ` +
      "store the new key now, it is not shown again\n",
  );
  return rotated;
}

/** `beamline keys revoke <keyId>`: refused on every instance within a second. */
export async function keysRevoke(
  admin: TenancyAdmin,
  keyId: string,
  options: JsonOption,
  output: CommandOutput = processOutput,
): Promise<KeyView> {
  const view = await admin.revokeKey(keyId);
  output.out(options.json ? `${JSON.stringify(view, null, 2)}\n` : formatTable(KEY_HEADERS, [keyRow(view)]));
  return view;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Registers `beamline keys issue|list|rotate|revoke` on the program. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command("keys").description("API keys: issue, list, rotate, revoke");
  keys
    .command("issue")
    .description("issue a new API key for a tenant; the key is shown once")
    .requiredOption("--tenant <tenant>", "tenant id")
    .option("--label <label>", "a name to recognise the key by")
    .option("--expires-in <duration>", "lifetime, e.g. 90d, 12h, 30m")
    .option("--expires-at <time>", "expiry as ISO 8601, e.g. 2027-01-01T00:00:00Z")
    .option("--model <model>", "a model id or alias the key may use (repeat, or comma-separate)", collect)
    .option("--limits <json>", "per-key quota limits, e.g. '{\"requestsPerMinute\":60}'")
    .option("--json", "print JSON (including the key)")
    .action((options: KeysIssueOptions) => withTenancyAdmin("keys", (admin) => keysIssue(admin, options)));
  keys
    .command("list")
    .description("list keys (prefix, label, status, expiry, scope); never the keys themselves")
    .option("--tenant <tenant>", "only this tenant's keys")
    .option("--json", "print JSON")
    .action((options: JsonOption & { tenant?: string }) =>
      withTenancyAdmin("keys", (admin) => keysList(admin, options)),
    );
  keys
    .command("rotate <keyId>")
    .description("issue a replacement key (shown once) and revoke the old one after a grace period")
    .option("--grace <duration>", "how long the old key keeps working, e.g. 1h (default: revoked at once)")
    .option("--expires-in <duration>", "lifetime of the new key")
    .option("--expires-at <time>", "expiry of the new key as ISO 8601")
    .option("--json", "print JSON (including the new key)")
    .action((keyId: string, options: KeysRotateOptions) =>
      withTenancyAdmin("keys", (admin) => keysRotate(admin, keyId, options)),
    );
  keys
    .command("revoke <keyId>")
    .description("revoke a key at once (also ends a rotation's grace period)")
    .option("--json", "print JSON")
    .action((keyId: string, options: JsonOption) =>
      withTenancyAdmin("keys", (admin) => keysRevoke(admin, keyId, options)),
    );
}
