/**
 * Notary and `audit verify` throughput over one stream of N messages shaped like usage records
 * (700 B payload, four headers), on a fresh nats-server:
 *   1. publish N messages (batched async publishes);
 *   2. start the notary and time until the stream is checkpointed to its end;
 *   3. time verifyAudit over the stream, and its RSS before and after.
 * Usage:
 *   node --import tsx bench/notary.ts [--count 100000]
 */
import { generateKeyPairSync } from "node:crypto";
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { verifyAudit } from "../replay/index.js";
import { keyIdOf } from "../src/audit/index.js";
import { connectNats } from "../src/nats/connect.js";
import { readLastCheckpoint, startNotary } from "../src/notary/index.js";
import { createLogger } from "../src/observability/index.js";
import { applyTopology, beamlineTopology } from "../streams/index.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../test/support/topology.js";

const { values } = parseArgs({ options: { count: { type: "string", default: "100000" } } });
const count = Number(values.count);
const STREAM = "BL_USAGE";

const server = await startNatsServer();
const nc = await connectNats({ servers: [server.url], name: "bench-notary" });
try {
  await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
  const js = jetstream(nc);
  const payload = new Uint8Array(700).fill(42);
  let publishedAt = performance.now();
  for (let start = 0; start < count; start += 1000) {
    const acks = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const h = natsHeaders();
      h.set("bl-type", "usage.recorded");
      h.set("bl-v", "1");
      h.set("bl-tenant", `t${i % 10}`);
      h.set("content-type", "application/cbor");
      acks.push(js.publish(`bl.usage.t${i % 10}.r${i}`, payload, { headers: h, msgID: `u${i}` }));
    }
    await Promise.all(acks);
  }
  publishedAt = performance.now() - publishedAt;

  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const key = { privateKey, publicKey, keyId: keyIdOf(publicKey), source: "bench" };
  const startedAt = performance.now();
  const notary = await startNotary({
    nc,
    log: createLogger({ level: "warn" }),
    key,
    now: () => new Date(),
    checkpointIntervalMs: 10_000,
    checkpointMaxMessages: 10_000,
    pollIntervalMs: 100,
    streams: [STREAM],
  });
  for (;;) {
    const last = await readLastCheckpoint(nc, STREAM);
    if ((last?.checkpoint.lastSeq ?? 0) >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const notarisedMs = performance.now() - startedAt;
  await notary.stop();

  const rssBefore = process.memoryUsage().rss;
  const verifyStart = performance.now();
  const [report] = await verifyAudit(nc, { publicKey, keyId: key.keyId, streams: [STREAM], now: new Date() });
  const verifyMs = performance.now() - verifyStart;
  const rssAfter = process.memoryUsage().rss;
  const rate = (ms: number) => Math.round((count / ms) * 1000);
  console.log(
    JSON.stringify(
      {
        messages: count,
        publishMsgPerS: rate(publishedAt),
        notaryMsgPerS: rate(notarisedMs),
        verifyMsgPerS: rate(verifyMs),
        verified: report?.verified,
        finding: report?.finding,
        rssMiB: {
          beforeVerify: Math.round(rssBefore / 2 ** 20),
          afterVerify: Math.round(rssAfter / 2 ** 20),
        },
      },
      null,
      2,
    ),
  );
} finally {
  await nc.close();
  await server.stop();
}
