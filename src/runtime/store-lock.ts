import { unlinkSync } from "node:fs";
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { isAlive, natsServersOnStore, startIdentity } from "./process-info.js";

/** What a store lock file holds: who owns the store, and the server it runs there. */
const LockRecord = z.object({
  ownerPid: z.number().int().positive(),
  /** The owner's start identity (see `startIdentity`), so a reused pid is not taken for it. */
  ownerStart: z.string().optional(),
  storeDir: z.string(),
  natsPid: z.number().int().positive().optional(),
  url: z.string().optional(),
  lockedAt: z.string(),
});
type LockRecord = z.infer<typeof LockRecord>;

/** A held lock on an embedded nats-server's store directory. */
export interface StoreLock {
  /** Records the server now running on the store (read by the next start after a crash). */
  recordServer(server: { natsPid: number; url: string }): Promise<void>;
  /** Removes the lock file if this process still owns it. */
  release(): Promise<void>;
  /** The same, synchronously, for `process.on("exit")`. */
  releaseSync(): void;
}

/** How long an orphaned server gets to shut down cleanly (SIGTERM) before SIGKILL, in ms. */
const ORPHAN_TERM_GRACE_MS = 10_000;

/**
 * Takes the lock on `storeDir` through the file `lockPath`, so at most one Beamline process runs
 * a nats-server on one store. A lock whose owner still runs (same pid and start identity) makes
 * this fail with `BL_DATA_DIR_IN_USE`. A stale lock (its owner died, e.g. SIGKILL) is taken
 * over; then any nats-server still running on the store — the dead owner's orphan — is stopped
 * (SIGTERM, then SIGKILL after 10 s) before the caller starts its own server.
 */
export async function lockStore(options: {
  lockPath: string;
  storeDir: string;
  log: Logger;
}): Promise<StoreLock> {
  const { lockPath, storeDir, log } = options;
  const mine: LockRecord = {
    ownerPid: process.pid,
    ownerStart: await startIdentity(process.pid),
    storeDir,
    lockedAt: new Date().toISOString(),
  };
  // Bounded: each round either creates the lock, fails, or removes one stale lock.
  for (let round = 0; ; round++) {
    if (round === 5) {
      throw new BeamlineError("BL_DATA_DIR_IN_USE", `could not take the lock ${lockPath}: it keeps changing`);
    }
    if (await createExclusive(lockPath, mine)) break;
    const text = await readFile(lockPath, "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const held = parseRecord(text);
    if (held && (await ownerRuns(held))) {
      throw new BeamlineError(
        "BL_DATA_DIR_IN_USE",
        `another Beamline (pid ${held.ownerPid}) runs the embedded nats-server on ${storeDir}` +
          `${held.url ? ` at ${held.url}` : ""}; stop it, point this one at it with NATS_URL, or use another BEAMLINE_DATA_DIR`,
      );
    }
    await removeStale(lockPath, text);
    log.warn(
      { lockPath, previous: held ?? text },
      "took over the lock of a Beamline that is no longer running",
    );
  }
  await stopOrphans(storeDir, log);

  const owned = async () => {
    const text = await readFile(lockPath, "utf8").catch(() => undefined);
    return text !== undefined && parseRecord(text)?.ownerPid === process.pid;
  };
  return {
    async recordServer(server) {
      const temporary = `${lockPath}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify({ ...mine, ...server }));
      // rename replaces the file in one step: a reader sees the old or the new record, never half.
      await rename(temporary, lockPath);
    },
    async release() {
      if (await owned()) await unlink(lockPath).catch(() => undefined);
    },
    releaseSync() {
      try {
        unlinkSync(lockPath);
      } catch {
        // Already gone: nothing to release.
      }
    },
  };
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const parsed = LockRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the lock file with its content in one step (link fails if the name exists). */
async function createExclusive(lockPath: string, record: LockRecord): Promise<boolean> {
  const temporary = `${lockPath}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(record));
  try {
    await link(temporary, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

async function ownerRuns(held: LockRecord): Promise<boolean> {
  if (!isAlive(held.ownerPid)) return false;
  const identity = await startIdentity(held.ownerPid);
  // Without a way to read start times, a live pid is taken for the owner: refusing to start is
  // recoverable (delete the lock file), two servers on one store are not.
  if (identity === undefined || held.ownerStart === undefined) return true;
  return identity === held.ownerStart;
}

/**
 * Removes a lock judged stale from its `text`. Two starters may judge it at once: the stale file
 * is first moved aside (only one rename wins), and if what was moved is not what was judged —
 * another starter already replaced it with a live lock — it is put back.
 */
async function removeStale(lockPath: string, text: string): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = await readFile(aside, "utf8");
  if (moved !== text) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside);
}

/** Stops every nats-server still running on `storeDir`, waiting until each is gone. */
async function stopOrphans(storeDir: string, log: Logger): Promise<void> {
  const orphans = await natsServersOnStore(storeDir);
  if (orphans.length === 0) return;
  log.warn(
    { storeDir, pids: orphans },
    "stopping the nats-server a crashed Beamline left running on its store",
  );
  for (const pid of orphans) signal(pid, "SIGTERM");
  let deadline = Date.now() + ORPHAN_TERM_GRACE_MS;
  let killed = false;
  for (;;) {
    // Polled through the process list, not `kill(pid, 0)`: an exited orphan may stay a zombie
    // until its new parent reaps it, and a zombie no longer holds the store.
    const left = (await natsServersOnStore(storeDir)).filter((pid) => orphans.includes(pid));
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      if (killed) {
        throw new BeamlineError(
          "BL_DATA_DIR_IN_USE",
          `nats-server ${left.join(", ")} on ${storeDir} does not stop; stop it before starting Beamline`,
        );
      }
      log.warn({ pids: left }, "the orphaned nats-server did not stop in time; killing it");
      for (const pid of left) signal(pid, "SIGKILL");
      killed = true;
      deadline = Date.now() + 5000;
    }
    await sleep(100);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Exited in the meantime.
  }
}
