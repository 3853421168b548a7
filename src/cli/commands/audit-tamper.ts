import type { Command } from "commander";
import { verifyAudit } from "../../../replay/index.js";
import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { loadNotaryKey, NOTARISED_STREAMS, publicKeyPem, readPublicKeyFile } from "../../notary/index.js";
import { connectForCommand } from "../nats-target.js";
import { type Progress, startProgress } from "../progress.js";
import { parseTimeRange } from "../time-range.js";

/**
 * `beamline audit pubkey` and `beamline audit verify` (docs/audit.md, "Tamper evidence"). The
 * `audit` group is shared with other audit commands, so it is looked up before it is created.
 */
export function registerAuditTamperCommands(program: Command): void {
  const audit =
    program.commands.find((command) => command.name() === "audit") ??
    program.command("audit").description("the log as the record: export, tamper evidence");

  audit
    .command("pubkey")
    .description("print the notary's public key (PEM), which is all an auditor needs besides read access")
    .option("--json", "print { keyId, algorithm, publicKeyPem }")
    .action(async (options: { json?: boolean }) => {
      const config = loadConfigFromEnv();
      const key = await loadNotaryKey({ ...config.notary, dataDir: config.dataDir }, { create: false });
      const pem = publicKeyPem(key.publicKey);
      process.stdout.write(
        options.json
          ? `${JSON.stringify({ keyId: key.keyId, algorithm: "Ed25519", publicKeyPem: pem })}\n`
          : pem,
      );
    });

  audit
    .command("verify")
    .description(
      "recompute the notary's hash chains from the streams and check every checkpoint signature; exits 1 on any finding",
    )
    .option("--stream <name>", `one stream (${NOTARISED_STREAMS.join(", ")})`)
    .option("--since <iso>", "verify the checkpoints written from this time on")
    .option("--pubkey <file>", "the notary's public key (PEM); default: the local notary key")
    .option("--json", "print the report as one JSON document")
    .action(async (options: { stream?: string; since?: string; pubkey?: string; json?: boolean }) => {
      const { since } = parseTimeRange({ since: options.since });
      if (options.stream !== undefined && !NOTARISED_STREAMS.includes(options.stream)) {
        throw new BeamlineError(
          "BL_BAD_REQUEST",
          `--stream ${JSON.stringify(options.stream)} is not a notarised stream: use one of ${NOTARISED_STREAMS.join(", ")}`,
          { param: "stream" },
        );
      }
      const config = loadConfigFromEnv();
      const key = options.pubkey
        ? await readPublicKeyFile(options.pubkey)
        : await loadNotaryKey({ ...config.notary, dataDir: config.dataDir }, { create: false });
      const nc = await connectForCommand(config, "audit-verify");
      const bars = new Map<string, Progress>();
      try {
        const reports = await verifyAudit(nc, {
          publicKey: key.publicKey,
          keyId: key.keyId,
          streams: options.stream ? [options.stream] : undefined,
          since,
          now: new Date(),
          onProgress: (stream, read, total) => {
            let bar = bars.get(stream);
            if (!bar) {
              for (const other of bars.values()) other.stop();
              bar = startProgress(`verify ${stream}`);
              bars.set(stream, bar);
            }
            bar.update(read, total);
          },
        });
        for (const bar of bars.values()) bar.stop();
        const findings = reports.flatMap((r) => (r.finding ? [r.finding] : []));
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ ok: findings.length === 0, keyId: key.keyId, streams: reports })}\n`,
          );
        } else {
          for (const r of reports) {
            if (r.finding) {
              const f = r.finding;
              process.stdout.write(
                `${r.stream}: FAILED ${f.seq === undefined ? "" : `at sequence ${f.seq} `}(${f.kind}): ${f.detail}` +
                  ` [checkpoint ${f.checkpoint.firstSeq}..${f.checkpoint.lastSeq} of ${f.checkpoint.time}]\n`,
              );
              continue;
            }
            const covered =
              r.coveredTo === null ? "no checkpoint yet" : `checkpointed up to sequence ${r.coveredTo}`;
            const tail = r.uncovered
              ? `; tail not yet checkpointed: ${r.uncovered.sequences} sequence(s) ${r.uncovered.fromSeq}..${r.uncovered.toSeq}` +
                (r.uncovered.oldestStoredAt ? `, oldest stored ${r.uncovered.oldestStoredAt}` : "")
              : "";
            process.stdout.write(
              `${r.stream}: intact, ${r.checkpoints} checkpoint(s), ${covered}; ${r.verified} message(s) verified, ` +
                `${r.expired} expired by retention, ${r.absentWhenNotarised} already absent when notarised${tail}\n`,
            );
          }
          process.stdout.write(
            findings.length === 0
              ? `audit verify: ${reports.length} stream(s) intact (key ${key.keyId})\n`
              : `audit verify: ${findings.length} stream(s) tampered with; first: ${findings[0]!.stream} sequence ${findings[0]!.seq ?? "-"} (${findings[0]!.kind})\n`,
          );
        }
        if (findings.length > 0) process.exitCode = 1;
      } finally {
        for (const bar of bars.values()) bar.stop();
        await nc.close();
      }
    });
}
