import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCliStatus } from "./cli.js";
import { waitFor } from "./wait.js";
import { type BeamlineProcess, startBeamlineProcess } from "./worker-process.js";

/**
 * After a fault: `beamline billing reconcile` finds the usage stream complete and exact — one
 * usage record per billable terminal, costs that re-derive, settlements and spend agreeing.
 */
export async function assertBillingReconciles(natsUrl: string): Promise<void> {
  const run = await runCliStatus(natsUrl, ["billing", "reconcile", "--json"]);
  const report = run.stdout ? JSON.parse(run.stdout) : undefined;
  assert.deepEqual(
    report?.discrepancies,
    [],
    `billing reconcile found discrepancies:\n${run.stdout}${run.stderr}`,
  );
  assert.equal(run.code, 0, run.stderr);
}

/**
 * After a fault: once the notary has checkpointed every stream to its end, `beamline audit
 * verify` recomputes every checkpoint from the streams and finds nothing deleted, altered or
 * reordered. `dataDir` holds the notary's key (the notary process's BEAMLINE_DATA_DIR).
 */
export async function assertAuditVerifies(
  natsUrl: string,
  dataDir: string,
  timeoutMs = 60_000,
): Promise<void> {
  let last = "";
  let failed = false;
  await waitFor(
    async () => {
      const run = await runCliStatus(natsUrl, ["audit", "verify", "--json"], { BEAMLINE_DATA_DIR: dataDir });
      last = `${run.stdout}${run.stderr}`;
      const report = run.stdout ? JSON.parse(run.stdout) : undefined;
      // A finding is final: stop polling and fail rather than wait for the tail to be covered.
      failed = report?.ok !== true || run.code !== 0;
      return failed || report.streams.every((stream: { uncovered: unknown }) => stream.uncovered === null);
    },
    {
      what: "the notary to checkpoint every stream to its end",
      timeoutMs,
      intervalMs: 500,
    },
  );
  assert.equal(failed, false, `audit verify failed:\n${last}`);
}

/** A projector + notary process beside a fault test, so its log can be checked afterwards. */
export interface LogKeeper {
  process: BeamlineProcess;
  /** The notary's data directory (its signing key). */
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `beamline start --roles projector,notary` on `natsUrl` with checkpoints every 200 ms,
 * and waits until it runs. The projector keeps the spend projection that reconciliation
 * compares against; the notary checkpoints every stream that audit verify then recomputes.
 */
export async function startLogKeeper(natsUrl: string): Promise<LogKeeper> {
  const dataDir = await mkdtemp(join(tmpdir(), "bl-log-keeper-"));
  const keeper = startBeamlineProcess("projector,notary", {
    NATS_URL: natsUrl,
    BEAMLINE_DATA_DIR: dataDir,
    BEAMLINE_NOTARY_CHECKPOINT_INTERVAL_MS: "200",
    BEAMLINE_NOTARY_POLL_INTERVAL_MS: "100",
  });
  await waitFor(() => keeper.output().includes("Beamline is running"), {
    what: "the projector + notary process to start",
    timeoutMs: 60_000,
  });
  return {
    process: keeper,
    dataDir,
    async stop() {
      await keeper.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Both checks: the usage stream reconciles and every stream verifies against its checkpoints. */
export async function assertLogIsTheRecord(natsUrl: string, keeper: LogKeeper): Promise<void> {
  await assertBillingReconciles(natsUrl);
  await assertAuditVerifies(natsUrl, keeper.dataDir);
}
