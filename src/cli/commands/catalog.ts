import type { Command } from "commander";
import { loadConfigFromEnv } from "../../config/index.js";
import { EventStore } from "../../nats/index.js";
import { publishCatalog, readPublishedCatalog } from "../../policies/index.js";
import { connectForCommand, signedStoreForCommand } from "../nats-target.js";
import { readJsonArgument } from "./read-json.js";

/** `beamline catalog show|publish`: the model catalog, published as `catalog.published` events. */
export function registerCatalogCommands(program: Command): void {
  const catalog = program.command("catalog").description("the model catalog (models, prices, capabilities)");

  catalog
    .command("show")
    .description("print the published catalog and its revision (always JSON)")
    .option("--json", "print JSON (the only format: accepted so every data command takes it)")
    .action(async () => {
      const nc = await connectForCommand(loadConfigFromEnv(), "catalog");
      try {
        const published = await readPublishedCatalog(new EventStore(nc));
        if (!published) {
          process.stderr.write(
            "no catalog published yet (Beamline publishes config/catalog.json at first start)\n",
          );
          process.stdout.write("null\n");
          return;
        }
        process.stdout.write(
          `${JSON.stringify({ revision: published.revision, publishedAt: published.publishedAt, catalog: published.catalog.document }, null, 2)}\n`,
        );
      } finally {
        await nc.close();
      }
    });

  catalog
    .command("publish <file>")
    .description(
      "validate and publish a catalog document (JSON file, or - for stdin); its version must be new",
    )
    .action(async (file: string) => {
      const document = await readJsonArgument(file, "catalog");
      const config = loadConfigFromEnv();
      const nc = await connectForCommand(config, "catalog");
      try {
        const published = await publishCatalog(await signedStoreForCommand(config, nc), document, new Date());
        process.stdout.write(
          published.duplicate
            ? `catalog ${published.catalog.version} was already published (revision ${published.revision})\n`
            : `published catalog ${published.catalog.version} as revision ${published.revision}\n`,
        );
      } finally {
        await nc.close();
      }
    });
}
