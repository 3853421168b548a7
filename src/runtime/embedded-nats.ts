import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { lockStore, type StoreLock } from "./store-lock.js";

const run = promisify(execFile);

/** The package root: two levels above src/runtime, three above dist/src/runtime. */
function packageRoot(): string {
  const up = import.meta.url.includes("/dist/src/") ? "../../../" : "../../";
  return fileURLToPath(new URL(up, import.meta.url));
}

/** Finds (and if needed fetches) a supported nats-server through the project script. */
export async function resolveNatsServerBinary(): Promise<string> {
  const script = join(packageRoot(), "scripts", "nats-server.sh");
  try {
    const { stdout } = await run("bash", [script], { maxBuffer: 1 << 20, timeout: 300_000 });
    return stdout.trim();
  } catch (error) {
    throw new BeamlineError(
      "BL_NATS_UNAVAILABLE",
      "no supported nats-server (2.12.10 or newer) is available and none could be fetched; install one or set NATS_URL",
      { cause: error },
    );
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface EmbeddedNats {
  url: string;
  stop(): Promise<void>;
}

const URL_FILE = "nats.url";
/** Next to the store, not in it: nats-server owns the store's contents. */
const LOCK_FILE = "nats.lock";

/**
 * The URL of an embedded nats-server another Beamline process started on this data folder,
 * if it is still running (so CLI commands reach it instead of starting a second one).
 */
export async function runningEmbeddedNatsUrl(dataDir: string): Promise<string | undefined> {
  const text = await readFile(join(dataDir, URL_FILE), "utf8").catch(() => undefined);
  if (!text) return undefined;
  return (await isServing(text.trim(), 1000)) ? text.trim() : undefined;
}

/**
 * Whether a nats-server answers at `url`. With auth on, an anonymous probe is refused, and
 * that refusal is the answer: the server is up.
 */
async function isServing(url: string, timeout: number): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout, reconnect: false });
    await nc.close();
    return true;
  } catch (error) {
    return /authorization violation|authentication/i.test((error as Error).message ?? "");
  }
}

/**
 * Starts a local JetStream nats-server with its storage under `<dataDir>/nats`, listening
 * on loopback only. Used when no NATS_URL is configured: one command gives a working router.
 * The store is locked first (`<dataDir>/nats.lock`): a second Beamline on the same data folder
 * fails with `BL_DATA_DIR_IN_USE`, and a server left running by a Beamline that crashed is
 * stopped before the new one starts, so one store never has two servers.
 */
export async function startEmbeddedNats(options: {
  dataDir: string;
  port: number;
  log: Logger;
  /** A nats-server configuration file to load (the generated auth: operator, accounts, resolver). */
  configFile?: string;
  /** Go's GOGC for the server, unless the environment already sets one. */
  gcPercent?: number;
}): Promise<EmbeddedNats> {
  const binary = await resolveNatsServerBinary();
  const storeDir = resolve(options.dataDir, "nats");
  await mkdir(storeDir, { recursive: true });
  const lock = await lockStore({ lockPath: join(options.dataDir, LOCK_FILE), storeDir, log: options.log });
  try {
    return await spawnOnLockedStore(binary, storeDir, options, lock);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * The server's environment: this process's, with `GOGC` set from the setting when the
 * operator has not set it (docs/operations.md, "Memory"). Go otherwise lets the heap reach
 * twice the live heap before collecting.
 */
function serverEnvironment(gcPercent: number | undefined): NodeJS.ProcessEnv {
  if (gcPercent === undefined || process.env["GOGC"] !== undefined) return process.env;
  return { ...process.env, GOGC: String(gcPercent) };
}

async function spawnOnLockedStore(
  binary: string,
  storeDir: string,
  options: { dataDir: string; port: number; log: Logger; configFile?: string; gcPercent?: number },
  lock: StoreLock,
): Promise<EmbeddedNats> {
  const port = options.port || (await freePort());
  const child: ChildProcess = spawn(
    binary,
    [
      "-js",
      "-sd",
      storeDir,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-n",
      "beamline-local",
      ...(options.configFile ? ["-c", options.configFile] : []),
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: serverEnvironment(options.gcPercent) },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `nats://127.0.0.1:${port}`;
  // Recorded before waiting for it, so even a crash during start-up leaves its pid on record.
  if (child.pid !== undefined) await lock.recordServer({ natsPid: child.pid, url });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new BeamlineError("BL_NATS_UNAVAILABLE", `the embedded nats-server exited at start:\n${stderr}`);
    }
    if (await isServing(url, 500)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new BeamlineError("BL_NATS_UNAVAILABLE", `the embedded nats-server did not start:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await writeFile(join(options.dataDir, URL_FILE), `${url}\n`);
  const onExit = () => {
    child.kill("SIGTERM");
    lock.releaseSync();
  };
  process.once("exit", onExit);
  options.log.info({ url, storeDir }, "started the embedded nats-server");
  return {
    url,
    async stop() {
      process.off("exit", onExit);
      await rm(join(options.dataDir, URL_FILE), { force: true });
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      // Only once the server is gone: the lock stands for the server, not for this process.
      await lock.release();
    },
  };
}
