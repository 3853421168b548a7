/**
 * Tenant history export against a raw read of the same subjects, in one run on one server:
 *
 *   node --import tsx bench/audit-export.ts [--events 1000000] [--other-share 0.25] [--seconds 900] [--out FILE]
 *
 * 1. Publishes a history of `--events` events for tenant `audited` (requests of four events:
 *    accepted, decided, attempt.succeeded, completed, encoded by the real encoders, ~0.5-1.3 KB
 *    each) with another tenant's requests interleaved (`--other-share` of the audited count), so
 *    the subject filter has to skip them. Publishing stops at a third of `--seconds`; the
 *    report states how many events were really written.
 * 2. raw: one ordered consumer per stream over the export's subject filters, counting messages
 *    and bytes (the least any reader of those subjects pays).
 * 3. export: `openTenantExport`, the pipeline behind `beamline audit export`, writing JSONL to
 *    `--out` (default /dev/null), with the process's RSS sampled every 100 ms.
 * Each read is bounded by the time left; a read cut short is reported as such.
 */

import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { parseArgs } from "node:util";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { openTenantExport, readTenantHistory, tenantHistorySources } from "../replay/index.js";
import type { ChatCompletion } from "../src/chat/index.js";
import {
  type BeamlineEvent,
  configSubject,
  type EncodedEvent,
  encodeEvent,
  makeEvent,
  RequestSlots,
  requestSubject,
  tenantHistoryFilter,
} from "../src/events/index.js";
import { EventStore } from "../src/nats/event-store.js";
import { StreamNames } from "../src/nats/names.js";
import { readStream } from "../src/nats/read-events.js";
import { applyTopology, beamlineTopology } from "../streams/index.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../test/support/topology.js";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    "other-share": { type: "string", default: "0.25" },
    seconds: { type: "string", default: "900" },
    out: { type: "string", default: "/dev/null" },
  },
});
const EVENTS = Number(values.events);
const OTHER_SHARE = Number(values["other-share"]);
const BUDGET_MS = Number(values.seconds) * 1000;
const OUT = values.out;
const AUDITED = "audited";
const OTHER = "other";
/** Distinct requests encoded up front and published again under new subjects (encoding is not what is measured). */
const TEMPLATES = 500;
/** Messages published between two flushes. */
const FLUSH_EVERY = 2000;

const started = Date.now();
const left = () => BUDGET_MS - (Date.now() - started);
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/** One request's four events, as the stages write them (a short chat, a two-candidate decision). */
function requestEvents(tenant: string, n: number): Array<{ slot: string; encoded: EncodedEvent }> {
  const requestId = `req_T${String(n).padStart(6, "0")}`;
  const context = { tenant, requestId, correlationId: requestId };
  const at = new Date(Date.UTC(2026, 11, 1, 9, 0, 0, n));
  const request = {
    model: "auto",
    messages: [
      { role: "system" as const, content: "You answer support questions for an online shop, briefly." },
      {
        role: "user" as const,
        content: `Where is my order ${n}? It was due on Tuesday and has not arrived.`,
      },
    ],
    max_tokens: 256,
  };
  const accepted = makeEvent(
    "request.accepted",
    `${requestId}:accepted`,
    context,
    {
      request,
      frontDoor: "openai",
      stream: false,
      apiKeyId: "key_0f3a9c2d11b84e70",
    },
    at,
  );
  const candidate = (model: string, score: number) => ({
    provider: "mock",
    model,
    upstreamModel: model,
    score,
    reason: "cheapest",
    estimatedCostNanoUsd: 41_000,
    breaker: "closed" as const,
  });
  const decided = makeEvent(
    "route.decided",
    `${requestId}:decided`,
    { ...context, causationId: accepted.id },
    {
      policy: "cost-first",
      catalogVersion: "2026-11",
      candidates: [candidate("mock-small", 0.91), candidate("mock-large", 0.55)],
      policyVersion: 3,
      requestedModel: "auto",
      strategy: { type: "cheapest" },
      seed: requestId,
      estimate: { promptTokens: 31, requestedOutputTokens: 256, capabilities: [] },
    },
    at,
  );
  const usage = { promptTokens: 31, completionTokens: 42, cachedTokens: 0 };
  const completion: ChatCompletion = {
    id: `chatcmpl-${n}`,
    object: "chat.completion",
    created: 1_764_579_600,
    model: "mock-small",
    choices: [
      {
        index: 0,
        finish_reason: "stop",
        message: {
          role: "assistant",
          content: "Your order left our warehouse yesterday; tracking shows delivery tomorrow.",
        },
      },
    ],
    usage: { prompt_tokens: 31, completion_tokens: 42, total_tokens: 73 },
  };
  const attempt = makeEvent(
    "attempt.succeeded",
    `${requestId}:attempt.1`,
    { ...context, causationId: decided.id },
    {
      attempt: 1,
      provider: "mock",
      model: "mock-small",
      upstreamModel: "mock-small",
      startedAt: at.toISOString(),
      durationMs: 412,
      streamed: false,
      candidate: 0,
      timeToFirstTokenMs: 412,
      usage,
      completion,
    },
    at,
  );
  const completed = makeEvent(
    "request.completed",
    `${requestId}:terminal`,
    { ...context, causationId: attempt.id },
    {
      apiKeyId: "key_0f3a9c2d11b84e70",
      catalogVersion: "2026-11",
      completion,
      provider: "mock",
      model: "mock-small",
      usage,
      attempts: 1,
    },
    at,
  );
  const events: Array<[string, BeamlineEvent]> = [
    [RequestSlots.accepted, accepted],
    [RequestSlots.decided, decided],
    [`${RequestSlots.attempt}.1`, attempt],
    [RequestSlots.terminal, completed],
  ];
  return events.map(([slot, event]) => ({ slot, encoded: encodeEvent(event) }));
}

async function publishHistory(
  nc: NatsConnection,
): Promise<{ audited: number; other: number; bytes: number }> {
  const templates = new Map(
    [AUDITED, OTHER].map((tenant) => [
      tenant,
      Array.from({ length: TEMPLATES }, (_, n) =>
        requestEvents(tenant, n).map(({ slot, encoded }) => {
          const h = natsHeaders();
          for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
          return { slot, payload: encoded.payload, headers: h };
        }),
      ),
    ]),
  );
  const events = new EventStore(nc);
  for (const tenant of [AUDITED, OTHER]) {
    await events.append(
      configSubject("tenant", tenant),
      makeEvent(
        "tenant.created",
        `tenant.created:${tenant}`,
        { tenant, requestId: "", correlationId: tenant },
        { name: tenant },
        new Date(),
      ),
    );
  }
  const counts = { audited: 0, other: 0, bytes: 0 };
  const deadline = started + BUDGET_MS / 3;
  let otherDebt = 0;
  let sinceFlush = 0;
  // Core publishes, which the stream stores like acknowledged ones, with a flush (a round trip
  // behind everything sent before it) every FLUSH_EVERY messages: fast, and never far ahead.
  const publishRequest = async (tenant: string, n: number) => {
    const template = templates.get(tenant)![n % TEMPLATES]!;
    const requestId = `req_${tenant === AUDITED ? "A" : "O"}${String(n).padStart(9, "0")}`;
    for (const { slot, payload, headers } of template) {
      nc.publish(requestSubject(tenant, requestId, slot), payload, { headers });
      counts.bytes += payload.length;
      if (tenant === AUDITED) counts.audited++;
      else counts.other++;
      if (++sinceFlush >= FLUSH_EVERY) {
        sinceFlush = 0;
        await nc.flush();
      }
    }
  };
  for (let n = 0; counts.audited < EVENTS && Date.now() < deadline; n++) {
    await publishRequest(AUDITED, n);
    otherDebt += OTHER_SHARE;
    while (otherDebt >= 1) {
      await publishRequest(OTHER, n);
      otherDebt -= 1;
    }
  }
  await nc.flush();
  // The stream must hold every event before the reads start.
  const jsm = await jetstreamManager(nc);
  const expected = counts.audited + counts.other;
  for (let waited = 0; waited < 30_000; waited += 100) {
    if ((await jsm.streams.info(StreamNames.requests)).state.messages >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return counts;
}

/** Raw ordered consumers over the export's filters: messages and bytes, nothing else. */
async function rawRead(
  nc: NatsConnection,
): Promise<{ messages: number; bytes: number; ms: number; complete: boolean }> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const t0 = performance.now();
  let messages = 0;
  let bytes = 0;
  let complete = true;
  for (const source of tenantHistorySources({ tenant: AUDITED })) {
    const { state } = await jsm.streams.info(source.stream);
    if (state.messages === 0) continue;
    const consumer = await js.consumers.get(source.stream, {
      filter_subjects: source.filters,
      deliver_policy: DeliverPolicy.All,
    });
    const info = await consumer.info(true);
    if (info.num_pending === 0) continue;
    const iterator = await consumer.consume();
    for await (const msg of iterator) {
      messages++;
      bytes += msg.data.length;
      if (msg.info.pending === 0) break;
      if ((messages & 0xfff) === 0 && left() < 0) {
        complete = false;
        break;
      }
    }
    await iterator.close();
  }
  return { messages, bytes, ms: performance.now() - t0, complete };
}

async function exportRead(nc: NatsConnection) {
  const rss = { start: process.memoryUsage.rss(), peak: 0, end: 0 };
  rss.peak = rss.start;
  const sampler = setInterval(() => {
    rss.peak = Math.max(rss.peak, process.memoryUsage.rss());
  }, 100);
  const out = createWriteStream(OUT);
  const abort = new AbortController();
  const t0 = performance.now();
  let events = 0;
  let bytes = 0;
  const chunks = await openTenantExport(
    nc,
    { tenant: AUDITED },
    { signal: abort.signal, onEvent: () => events++ },
  );
  for await (const chunk of chunks) {
    bytes += chunk.length;
    if (!out.write(chunk)) await once(out, "drain");
    if (left() < 0) abort.abort();
  }
  out.end();
  await once(out, "finish");
  const ms = performance.now() - t0;
  clearInterval(sampler);
  rss.end = process.memoryUsage.rss();
  rss.peak = Math.max(rss.peak, rss.end);
  return { events, bytes, ms, rss, complete: !abort.signal.aborted };
}

/** A stage of the pipeline alone, to see where an export's time goes: events per second. */
async function stage(name: string, read: () => AsyncIterable<unknown>): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const _ of read()) {
    n++;
    if ((n & 0xfff) === 0 && left() < 0) break;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  console.log(`stage ${name}: ${n} in ${Math.round(performance.now() - t0)} ms, ${Math.round(rate)}/s`);
  return rate;
}

const server = await startNatsServer();
const nc = await connect({ servers: server.url, name: "bench-audit-export" });
try {
  await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
  const publishStart = performance.now();
  const published = await publishHistory(nc);
  const publishMs = performance.now() - publishStart;
  const requestsInfo = await (await jetstreamManager(nc)).streams.info(StreamNames.requests);
  console.log(
    `published ${published.audited} events of ${AUDITED} and ${published.other} of ${OTHER} ` +
      `(${mb(requestsInfo.state.bytes)} MB stored) in ${(publishMs / 1000).toFixed(1)} s`,
  );
  const raw = await rawRead(nc);
  const stages = {
    readStream: await stage("readStream (requests stream only, no decode)", () =>
      readStream(nc, { stream: StreamNames.requests, filters: [tenantHistoryFilter(AUDITED)] }),
    ),
    readTenantHistory: await stage("readTenantHistory (4 streams merged, envelopes decoded)", () =>
      readTenantHistory(nc, { tenant: AUDITED }),
    ),
  };
  const exported = await exportRead(nc);
  const rawRate = raw.messages / (raw.ms / 1000);
  const exportRate = exported.events / (exported.ms / 1000);
  const report = {
    published,
    raw: { ...raw, eventsPerSecond: Math.round(rawRate) },
    export: { ...exported, eventsPerSecond: Math.round(exportRate), out: OUT },
    stages,
    ratio: Number((exportRate / rawRate).toFixed(3)),
  };
  console.log(JSON.stringify(report, null, 2));
  console.log(
    `| ${published.audited.toLocaleString("en")} (+${published.other.toLocaleString("en")} other) ` +
      `| raw ${Math.round(rawRate).toLocaleString("en")}/s${raw.complete ? "" : " (cut)"} ` +
      `| export ${Math.round(exportRate).toLocaleString("en")}/s${exported.complete ? "" : " (cut)"} ` +
      `| ${Math.round((exportRate / rawRate) * 100)} % ` +
      `| RSS ${mb(exported.rss.start)} / ${mb(exported.rss.peak)} / ${mb(exported.rss.end)} MB |`,
  );
} finally {
  await nc.close();
  await server.stop();
}
