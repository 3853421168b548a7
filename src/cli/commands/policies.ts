import type { Command } from "commander";
import { loadConfigFromEnv } from "../../config/index.js";
import { assertTenantId, isEvent } from "../../events/index.js";
import { EventStore, readLastWithSequence, StreamNames } from "../../nats/index.js";
import { policySubject, publishPolicy, readPolicyHistory } from "../../policies/index.js";
import { defaultPolicy } from "../../routing/index.js";
import { connectForCommand, signedStoreForCommand } from "../nats-target.js";
import { readJsonArgument } from "./read-json.js";

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** `beamline policies get|set|history`: tenant policy documents, published as `policy.updated` events. */
export function registerPolicyCommands(program: Command): void {
  const policies = program
    .command("policies")
    .description("tenant policy documents (routing, pipeline, limits)");

  policies
    .command("get <tenant>")
    .description("print the tenant's current policy and its version (0 = built-in default), as JSON")
    .option("--json", "print JSON (the only format: accepted so every data command takes it)")
    .action(async (tenant: string) => {
      assertTenantId(tenant);
      const nc = await connectForCommand(loadConfigFromEnv(), "policies");
      try {
        const last = await readLastWithSequence(
          new EventStore(nc),
          StreamNames.config,
          policySubject(tenant),
        );
        if (last && isEvent(last.event, "policy.updated")) {
          print({
            tenant,
            version: last.event.data.version,
            publishedAt: last.event.time,
            policy: last.event.data.policy,
          });
        } else {
          const fallback = defaultPolicy(tenant);
          print({ tenant, version: fallback.version, publishedAt: null, policy: fallback.document });
        }
      } finally {
        await nc.close();
      }
    });

  policies
    .command("set <tenant> <file>")
    .description("validate and publish a policy document (JSON file, or - for stdin) as the next version")
    .action(async (tenant: string, file: string) => {
      const document = await readJsonArgument(file, "policy document");
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "policies");
      try {
        const published = await publishPolicy(
          await signedStoreForCommand(config, nc),
          tenant,
          document,
          new Date(),
        );
        process.stdout.write(
          `published policy version ${published.version} for tenant ${published.tenant}\n`,
        );
      } finally {
        await nc.close();
      }
    });

  policies
    .command("history <tenant>")
    .description("list every published version of the tenant's policy, oldest first")
    .option("--full", "print the documents as JSON, not only versions and times")
    .option("--json", "print versions, times and strategies as a JSON array (with --full: the documents)")
    .action(async (tenant: string, options: { full?: boolean; json?: boolean }) => {
      const nc = await connectForCommand(loadConfigFromEnv(), "policies");
      try {
        const history = await readPolicyHistory(nc, tenant);
        if (options.full) print(history);
        else if (options.json)
          print(
            history.map((entry) => ({
              version: entry.version,
              publishedAt: entry.publishedAt,
              strategy: entry.policy.routing.strategy.type,
            })),
          );
        else if (history.length === 0)
          process.stdout.write(`tenant ${tenant} has no published policy (default applies)\n`);
        else
          for (const entry of history)
            process.stdout.write(
              `v${entry.version}\t${entry.publishedAt}\t${entry.policy.routing.strategy.type}\n`,
            );
      } finally {
        await nc.close();
      }
    });
}
