import { Command, Option } from "commander";
import { applyTopology } from "../../streams/index.js";
import { loadConfigFromEnv, ROLES, type Role } from "../config/index.js";
import { isBeamlineError } from "../errors/index.js";
import { startTracing } from "../observability/index.js";
import { startMockProvider } from "../providers/index.js";
import { capYoungGeneration, startBeamline, topologyOf } from "../runtime/index.js";
import { registerAuditExportCommands } from "./commands/audit-export.js";
import { registerAuditTamperCommands } from "./commands/audit-tamper.js";
import { registerBillingCommands } from "./commands/billing.js";
import { registerCatalogCommands } from "./commands/catalog.js";
import { registerContentCommands } from "./commands/content.js";
import { registerCredentialsCommands } from "./commands/credentials.js";
import { registerExtensionsCommands } from "./commands/extensions.js";
import { registerKeysCommand } from "./commands/keys.js";
import { registerPolicyCommands } from "./commands/policies.js";
import { registerProducersCommand } from "./commands/producers.js";
import { registerProjectionsCommands } from "./commands/projections.js";
import { registerProvidersCommands } from "./commands/providers.js";
import { registerReplayCommands } from "./commands/replay.js";
import { registerTenantsCommand } from "./commands/tenants.js";
import { connectForCommand } from "./nats-target.js";

const program = new Command("beamline")
  .description("Beamline Router: an event-sourced AI request router on NATS JetStream")
  .showHelpAfterError();

const start = program
  .command("start")
  .description("run the router (all roles by default); starts a local nats-server when NATS_URL is unset")
  .addOption(new Option("--roles <roles>", `comma-separated roles to run (${ROLES.join(", ")})`))
  .action(async (options: { roles?: string }) => {
    const config = loadConfigFromEnv(
      process.env,
      options.roles ? { roles: options.roles.split(",") as Role[] } : {},
    );
    const stopTracing = await startTracing();
    const app = await startBeamline(config);
    if (app.httpUrl) {
      const key = app.devKey?.key;
      const shown =
        key ??
        (app.devKey
          ? "(generated on first start; set BEAMLINE_DEV_KEY or run `npx beamline keys issue --tenant dev`)"
          : "none: the gateway listens beyond loopback (docs/security.md); issue keys with `npx beamline keys issue`");
      process.stdout.write(
        `\nBeamline is listening on ${app.httpUrl}\n  dev tenant API key: ${shown}\n` +
          `  metrics: ${app.metricsUrl}/metrics\n` +
          `  try: curl ${app.httpUrl}/v1/chat/completions -H "Authorization: Bearer ${key ?? "<key>"}" ` +
          `-H "Content-Type: application/json" -d '{"model":"mock-small","messages":[{"role":"user","content":"Hello"}]}'\n\n`,
      );
    } else {
      process.stdout.write(
        `\nBeamline roles ${config.roles.join(", ")}; metrics: ${app.metricsUrl}/metrics\n\n`,
      );
    }
    const shutdown = async (signal: string) => {
      process.stdout.write(
        `\n${signal}: draining (up to ${config.availability.drainTimeoutMs} ms; send it again to stop at once)…\n`,
      );
      await app.stop();
      await stopTracing?.().catch(() => undefined);
      process.exit(0);
    };
    process.once("SIGINT", () => void shutdown("SIGINT"));
    process.once("SIGTERM", () => void shutdown("SIGTERM"));
  });

const streams = program.command("streams").description("JetStream streams, consumers and KV buckets");
streams
  .command("apply")
  .description("create or update every stream, consumer and KV bucket; idempotent")
  .option("--force", "allow destructive changes (recreate, shrinking limits)")
  .option("--dry-run", "print the plan only")
  .action(async (options: { force?: boolean; dryRun?: boolean }) => {
    const config = loadConfigFromEnv();
    const nc = await connectForCommand(config, "streams");
    try {
      const report = await applyTopology(nc, topologyOf(config), options);
      for (const line of report.lines) process.stdout.write(`${line}\n`);
      const changed = report.plan.filter((p) => p.action.kind !== "unchanged").length;
      process.stdout.write(
        options.dryRun
          ? `${changed} change(s) planned\n`
          : changed === 0
            ? "nothing to change\n"
            : `${changed} change(s) applied\n`,
      );
    } finally {
      await nc.close();
    }
  });
streams
  .command("status")
  .description("show the plan against the server without changing anything")
  .option("--json", "print the planned changes as JSON")
  .action(async (options: { json?: boolean }) => {
    const config = loadConfigFromEnv();
    const nc = await connectForCommand(config, "streams");
    try {
      const report = await applyTopology(nc, topologyOf(config), { dryRun: true });
      if (options.json) process.stdout.write(`${JSON.stringify(report.plan, null, 2)}\n`);
      else for (const line of report.lines) process.stdout.write(`${line}\n`);
    } finally {
      await nc.close();
    }
  });

registerAuditExportCommands(program);
registerTenantsCommand(program);
registerCredentialsCommands(program);
registerContentCommands(program);
registerKeysCommand(program);
registerProducersCommand(program);

program
  .command("mock")
  .description(
    "run the built-in mock provider on its own (OpenAI, Anthropic and Gemini wire formats, with faults)",
  )
  .option("--port <port>", "port", "0")
  .option("--latency-ms <ms>", "delay before the answer", "0")
  .option("--chunk-delay-ms <ms>", "delay between streamed chunks", "0")
  .option("--failure-rate <rate>", "share of requests answered 500", "0")
  .action(async (options: { port: string; latencyMs: string; chunkDelayMs: string; failureRate: string }) => {
    const mock = await startMockProvider({
      port: Number(options.port),
      latencyMs: Number(options.latencyMs),
      chunkDelayMs: Number(options.chunkDelayMs),
      failureRate: Number(options.failureRate),
    });
    process.stdout.write(`${mock.url}\n`);
  });

registerProvidersCommands(program);
registerProjectionsCommands(program);
registerPolicyCommands(program);
registerCatalogCommands(program);
registerReplayCommands(program);
registerBillingCommands(program);
registerAuditTamperCommands(program);

// The entry held V8's young generation while the modules loaded: `start` caps it from its
// configuration, every other command (a replay, an export) gets V8's own rule back.
program.hook("preAction", (_program, action) => {
  if (action !== start) capYoungGeneration(0);
});

try {
  registerExtensionsCommands(program);
  await program.parseAsync(process.argv);
} catch (error) {
  if (isBeamlineError(error)) {
    process.stderr.write(`beamline: ${error.message} [${error.code}]\n`);
  } else {
    process.stderr.write(`beamline: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exit(1);
}
