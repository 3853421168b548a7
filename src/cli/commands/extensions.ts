import type { Command } from "commander";
import { loadConfigFromEnv } from "../../config/index.js";
import {
  type ExtensionStage,
  ExtensionStages,
  extensionRegistrationSchema,
  openExtensionRegistry,
  registerExtension,
  unregisterExtension,
} from "../../extensions/index.js";
import { connectForCommand } from "../nats-target.js";
import { formatTable } from "../table.js";

/**
 * `beamline extensions register|remove|list`: the `bl_extensions` registry. Workers watch
 * it, so a change applies to the next step that runs, without a restart.
 */
export function registerExtensionsCommands(program: Command): void {
  const extensions = program.command("extensions").description("external extension registry (bl_extensions)");

  extensions
    .command("register <name> <version>")
    .description("register an external extension version listening on bl.ext.<name>.<version>")
    .requiredOption(
      "--stages <stages>",
      `comma-separated stages it may run in (${ExtensionStages.join(", ")})`,
    )
    .option("--description <text>", "what it does")
    .action(async (name: string, version: string, options: { stages: string; description?: string }) => {
      const registration = extensionRegistrationSchema.parse({
        name,
        version,
        stages: options.stages.split(",").map((s) => s.trim()) as ExtensionStage[],
        ...(options.description === undefined ? {} : { description: options.description }),
      });
      const nc = await connectForCommand(loadConfigFromEnv(), "extensions");
      try {
        const revision = await registerExtension(await openExtensionRegistry(nc), registration);
        process.stdout.write(`registered ${name}/${version} (revision ${revision})\n`);
      } finally {
        await nc.close();
      }
    });

  extensions
    .command("remove <name> <version>")
    .description("unregister an extension version; pipelines still naming it hit their failure mode")
    .action(async (name: string, version: string) => {
      const nc = await connectForCommand(loadConfigFromEnv(), "extensions");
      try {
        await unregisterExtension(await openExtensionRegistry(nc), name, version);
        process.stdout.write(`removed ${name}/${version}\n`);
      } finally {
        await nc.close();
      }
    });

  extensions
    .command("list")
    .description("list registered external extensions (built-ins are always available)")
    .option("--json", "print the registrations as a JSON array")
    .action(async (options: { json?: boolean }) => {
      const nc = await connectForCommand(loadConfigFromEnv(), "extensions");
      try {
        const kv = await openExtensionRegistry(nc);
        const registered: Array<{ key: string; registration: unknown }> = [];
        for await (const key of await kv.keys()) {
          const entry = await kv.get(key);
          if (entry?.operation === "PUT") registered.push({ key, registration: entry.json() });
        }
        registered.sort((a, b) => a.key.localeCompare(b.key));
        if (options.json) process.stdout.write(`${JSON.stringify(registered, null, 2)}\n`);
        else
          process.stdout.write(
            formatTable(
              ["extension", "registration"],
              registered.map((r) => [r.key, JSON.stringify(r.registration)]),
            ),
          );
      } finally {
        await nc.close();
      }
    });
}
