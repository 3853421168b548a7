/**
 * What one stored message costs nats-server's heap, by what the message carries: a subject of
 * its own (the per-subject index every write-once slot needs), a message id (an entry in the
 * stream's duplicate window), or both, as Beamline writes its request events. Publishes
 * `--messages` events per mode to a fresh stream and reads the live Go heap (after a forced GC,
 * from the server's profiling endpoint) before and after. See bench/RESULTS.md, "Soak".
 *
 *   node --import tsx bench/nats-id-memory.ts [--messages 100000]
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { formatRequestId } from "../src/events/index.js";
import { freePort } from "./processes.js";
import { startNats } from "./stack.js";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { messages: { type: "string" }, "in-flight": { type: "string" } },
  strict: true,
});
const MESSAGES = Number(values.messages ?? 100_000);
const IN_FLIGHT = Number(values["in-flight"] ?? 256);
const MB = 2 ** 20;

interface Mode {
  name: string;
  /** A subject of its own per message (Beamline's slots), or one shared subject. */
  ownSubject: boolean;
  msgId: boolean;
}

const MODES: Mode[] = [
  {
    name: "own subject + msg id + expected-last-subject-seq 0 (Beamline today)",
    ownSubject: true,
    msgId: true,
  },
  { name: "own subject + expected-last-subject-seq 0, no msg id", ownSubject: true, msgId: false },
  { name: "one shared subject + msg id", ownSubject: false, msgId: true },
  { name: "one shared subject, no msg id (the floor)", ownSubject: false, msgId: false },
];

async function liveHeapMb(profileUrl: string): Promise<number> {
  const text = await (await fetch(`${profileUrl}/debug/pprof/heap?debug=1&gc=1`)).text();
  const all = [...text.matchAll(/^# HeapAlloc = (\d+)$/gm)];
  return Number(all.at(-1)?.[1]) / MB;
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), "beamline-id-memory-"));
  const profilePort = await freePort();
  const nats = await startNats(join(workDir, "nats"), undefined, {
    args: ["--profile", String(profilePort)],
  });
  const profileUrl = `http://127.0.0.1:${profilePort}`;
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const payload = randomBytes(700);
    process.stdout.write(`${MESSAGES} messages per mode, 700-byte payload, 10-minute duplicate window\n`);
    for (const [index, mode] of MODES.entries()) {
      const stream = `IDMEM${index}`;
      await jsm.streams.add({
        name: stream,
        subjects: [`idmem${index}.>`],
        storage: "file",
        duplicate_window: 10 * 60 * 1_000_000_000,
      } as Parameters<typeof jsm.streams.add>[0]);
      const before = await liveHeapMb(profileUrl);
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < MESSAGES) {
          next += 1;
          const requestId = formatRequestId(Date.now(), randomBytes(10));
          const h = natsHeaders();
          h.set("bl-type", "request.accepted");
          h.set("bl-tenant", "dev");
          const subject = mode.ownSubject ? `idmem${index}.dev.${requestId}.accepted` : `idmem${index}.all`;
          await js.publish(subject, payload, {
            headers: h,
            ...(mode.msgId && { msgID: `${requestId}:accepted` }),
            ...(mode.ownSubject && { expect: { lastSubjectSequence: 0 } }),
          });
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      const seconds = (performance.now() - started) / 1000;
      const after = await liveHeapMb(profileUrl);
      const info = await jsm.streams.info(stream);
      process.stdout.write(
        `${mode.name}\n  live heap ${before.toFixed(1)} → ${after.toFixed(1)} MB: ` +
          `${(((after - before) * MB) / MESSAGES).toFixed(0)} bytes per message ` +
          `(${info.state.messages} messages, ${info.state.num_subjects} subjects, ${(MESSAGES / seconds).toFixed(0)} msg/s)\n`,
      );
    }
  } finally {
    await nc.close();
    await nats.child.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
