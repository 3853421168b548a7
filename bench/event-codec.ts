/**
 * The cost of writing and reading one event, without a server: CPU time and V8 heap bytes
 * allocated per event for the five events of one chat completion (accepted, decided, attempt,
 * terminal, usage), as the event store writes them and a stage consumer reads them.
 *
 *   node --import tsx bench/event-codec.ts [--requests 2000] [--rounds 5] [--json]
 *
 * - write: `makeEvent` (the factory) + encode (CBOR) + seal the content (AES-256-GCM, the
 *   default `encrypted` mode) + sign (`bl-sig`) + the publish headers — everything
 *   `EventStore.append` does before the bytes go to the socket;
 * - read (open): signature check + decode + open the sealed content + upcast/validate, what
 *   the request worker does with each message;
 * - read (metadata): the same with content left sealed, what billing and the projectors do.
 *
 * The events are one real request's history (bench/event-codec-request.json, captured from a
 * test Beamline with the mock provider), given a fresh request id per iteration so no cache
 * sees the same strings twice. CPU is process.cpuUsage (user + system) around each bounded
 * loop; allocation is the V8 heap growth summed across the loop's garbage collections
 * (v8.GCProfiler), so Buffers' off-heap bytes are not in it. Each figure is the median of
 * `--rounds` rounds after one warm-up round.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { GCProfiler } from "node:v8";
import { type BeamlineEvent, type EventContext, type EventType, makeEvent } from "../src/events/index.js";
import {
  decodeStoredEvent,
  EventSigner,
  type PreparedAppend,
  prepareAppend,
  type StoredEventMessage,
} from "../src/nats/index.js";
import { ContentCodec, type DataKey } from "../src/vault/index.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
if (!Number.isInteger(requests) || requests < 10 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 10 to 100000");
}
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
  throw new Error("--rounds must be a whole number from 1 to 50");
}

interface Recorded {
  subject: string;
  event: BeamlineEvent;
}
const history = JSON.parse(
  await readFile(new URL("./event-codec-request.json", import.meta.url), "utf8"),
) as Recorded[];
const recordedId = history[0]!.event.requestId;

const dataKey: DataKey = { key: randomBytes(32), revision: 1 };
const codec = new ContentCodec(
  { forSealing: async () => dataKey, forOpening: async () => dataKey },
  () => "encrypted",
);
const signer = new EventSigner({ key: randomBytes(32), since: undefined, source: "bench" });

/** One event to write: what a stage hands the factory, with this iteration's request id. */
interface Draft {
  subject: string;
  type: EventType;
  id: string;
  context: EventContext;
  data: unknown;
  now: Date;
}

/** The history's event of `type`, as `count` drafts with fresh request ids (built outside the timed loop). */
function drafts(index: number, count: number): Draft[] {
  const { subject, event } = history[index]!;
  const json = JSON.stringify(event);
  const out: Draft[] = [];
  for (let i = 0; i < count; i++) {
    const requestId = `req_bench${i.toString(36).padStart(6, "0")}${Math.random().toString(36).slice(2, 10)}`;
    const copy = JSON.parse(json.replaceAll(recordedId, requestId)) as BeamlineEvent;
    const context: EventContext = {
      tenant: copy.tenant,
      requestId: copy.requestId,
      correlationId: copy.correlationId,
    };
    if (copy.causationId !== undefined) context.causationId = copy.causationId;
    if (copy.traceparent !== undefined) context.traceparent = copy.traceparent;
    out.push({
      subject: subject.replaceAll(recordedId, requestId),
      type: copy.type,
      id: copy.id,
      context,
      data: copy.data,
      now: new Date(copy.time),
    });
  }
  return out;
}

interface Cost {
  /** CPU microseconds per event. */
  cpuUs: number;
  /** V8 heap bytes allocated per event. */
  heapBytes: number;
}

/** Runs `loop` once, measuring its CPU time and heap allocation per item. */
async function measure(items: number, loop: () => Promise<void>): Promise<Cost> {
  const profiler = new GCProfiler();
  profiler.start();
  const startHeap = process.memoryUsage().heapUsed;
  const startCpu = process.cpuUsage();
  await loop();
  const cpu = process.cpuUsage(startCpu);
  const endHeap = process.memoryUsage().heapUsed;
  const gcs = profiler.stop().statistics;
  let allocated = 0;
  let after = startHeap;
  for (const gc of gcs) {
    allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - after);
    after = gc.afterGC.heapStatistics.usedHeapSize;
  }
  allocated += Math.max(0, endHeap - after);
  return { cpuUs: (cpu.user + cpu.system) / items, heapBytes: allocated / items };
}

async function writeAll(list: Draft[]): Promise<PreparedAppend[]> {
  const out: PreparedAppend[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const d = list[i]!;
    const event = makeEvent(d.type, d.id, d.context, d.data as never, d.now);
    out[i] = await prepareAppend(codec, signer, d.subject, event, true);
  }
  return out;
}

async function readAll(messages: StoredEventMessage[], open: boolean): Promise<void> {
  for (const message of messages) {
    const { trust } = await decodeStoredEvent(codec, signer, message, { open });
    if (trust !== "signed") throw new Error(`bench: an event read back as ${trust}`);
  }
}

type Phase = "write" | "read (open)" | "read (metadata)";
const phases: Phase[] = ["write", "read (open)", "read (metadata)"];
const samples = new Map<string, Cost[]>();
const storedAt = new Date();

for (let round = 0; round <= rounds; round++) {
  for (const [index, { event }] of history.entries()) {
    const list = drafts(index, requests);
    let prepared: PreparedAppend[] = [];
    const costs: Cost[] = [];
    costs.push(
      await measure(requests, async () => {
        prepared = await writeAll(list);
      }),
    );
    const messages = prepared.map(
      (p, i): StoredEventMessage => ({
        subject: list[i]!.subject,
        payload: p.encoded.payload,
        headers: p.headers,
        storedAt,
      }),
    );
    costs.push(await measure(requests, () => readAll(messages, true)));
    costs.push(await measure(requests, () => readAll(messages, false)));
    if (round === 0) continue; // warm-up
    for (const [p, cost] of costs.entries()) {
      const key = `${event.type}\t${phases[p]}`;
      samples.set(key, [...(samples.get(key) ?? []), cost]);
    }
  }
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

interface Row {
  type: string;
  phase: Phase;
  cpuUs: number;
  heapBytes: number;
  storedBytes?: number;
}
const rows: Row[] = [];
for (const [key, costs] of samples) {
  const [type, phase] = key.split("\t") as [string, Phase];
  rows.push({
    type,
    phase,
    cpuUs: median(costs.map((c) => c.cpuUs)),
    heapBytes: median(costs.map((c) => c.heapBytes)),
  });
}
const stored = new Map<string, number>();
for (const [index, { event }] of history.entries()) {
  const [prepared] = await writeAll(drafts(index, 1));
  stored.set(event.type, prepared!.encoded.payload.length);
}

if (values.json) {
  console.log(JSON.stringify({ requests, rounds, rows, storedBytes: Object.fromEntries(stored) }, null, 2));
} else {
  console.log(
    `event codec: ${requests} requests × ${rounds} rounds (median), µs CPU and V8 heap bytes per event`,
  );
  console.log(
    "| event | stored bytes | write µs | write heap B | read (open) µs | read (open) heap B | read (metadata) µs | read (metadata) heap B |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  const totals = { write: [0, 0], "read (open)": [0, 0], "read (metadata)": [0, 0] } as Record<
    Phase,
    [number, number]
  >;
  for (const { event } of history) {
    const cells = phases.map((phase) => {
      const row = rows.find((r) => r.type === event.type && r.phase === phase)!;
      totals[phase][0] += row.cpuUs;
      totals[phase][1] += row.heapBytes;
      return `${row.cpuUs.toFixed(1)} | ${Math.round(row.heapBytes)}`;
    });
    console.log(`| ${event.type} | ${stored.get(event.type)} | ${cells.join(" | ")} |`);
  }
  const total = phases.map((phase) => `${totals[phase][0].toFixed(1)} | ${Math.round(totals[phase][1])}`);
  console.log(
    `| one request (sum) | ${[...stored.values()].reduce((a, b) => a + b, 0)} | ${total.join(" | ")} |`,
  );
}
