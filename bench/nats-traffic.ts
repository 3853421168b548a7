/**
 * NATS messages per request, by subject class: what one sequential chat completion puts on
 * the wire between the router and its nats-server (publishes, their acks, consumer
 * deliveries, KV traffic, live notices). At one request in flight every message is its own
 * socket write and read on both sides, so this count is most of the fixed cost per request.
 *
 *   node --import tsx bench/nats-traffic.ts [--requests 300] [--json]
 *
 * A tap connection subscribes to `>` on the router's nats-server; it sees every message the
 * server routes, including consumer deliveries (shown under the stored message's subject)
 * and replies to inboxes. Request and tenant ids are folded so the classes add up per request.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { startMock, startNats, startRouter } from "./stack.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "300" },
    json: { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 1 to 100000");
}

/** Folds per-request parts of a subject so one class counts the same message across requests. */
export function subjectClass(subject: string): string {
  return subject
    .replace(/^_INBOX\..*/, "_INBOX (replies: publish acks, gets)")
    .replace(/^\$JS\.ACK\.([^.]+)\.([^.]+)\..*/, "$JS.ACK.$1.$2")
    .replace(/^bl\.(req|quota|usage|in)\.[^.]+\.[^.]+/, "bl.$1.<tenant>.<request>")
    .replace(/^bl\.live\..*/, "bl.live.<gateway>.<request>")
    .replace(/^\$JS\.API\.DIRECT\.GET\.([^.]+)\..*/, "$JS.API.DIRECT.GET.$1")
    .replace(/^\$JS\.API\.CONSUMER\.MSG\.NEXT\.([^.]+)\..*/, "$JS.API.CONSUMER.MSG.NEXT.$1")
    .replace(/^\$KV\.([^.]+)\..*/, "$KV.$1.<key>");
}

const workDir = await mkdtemp(join(tmpdir(), "beamline-traffic-"));
const repoRoot = process.cwd();
const devKey = `traffic-${Date.now().toString(36)}-dev-key`;
const place = { repoRoot, workDir, devKey, routerCpu: undefined, loadCpu: undefined, profileDir: undefined };
const nats = await startNats(join(workDir, "nats"), undefined);
const mock = await startMock(repoRoot, undefined);
const router = await startRouter({ ...place, routerNodeFlags: [] }, nats.url, mock.url);
const tap = await connect({ servers: nats.url, name: "traffic-tap" });
const counts = new Map<string, number>();
let counting = false;
const subscription = tap.subscribe(">");
void (async () => {
  for await (const message of subscription) {
    if (!counting) continue;
    const key = subjectClass(message.subject);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
})();

async function call(): Promise<void> {
  const response = await fetch(`${router.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello." }] }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`the router answered ${response.status}: ${body}`);
}

try {
  for (let i = 0; i < 20; i++) await call(); // warm-up: views loaded, consumers pulled
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  counting = true;
  for (let i = 0; i < requests; i++) await call();
  // Billing and the projectors finish after the answer; wait for their traffic too.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  counting = false;
  const rows = [...counts]
    .map(([subject, n]) => ({ subject, perRequest: n / requests }))
    .sort((a, b) => b.perRequest - a.perRequest);
  const total = rows.reduce((sum, row) => sum + row.perRequest, 0);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ requests, total, rows }, null, 2)}\n`);
  } else {
    for (const row of rows.filter((r) => r.perRequest >= 0.05)) {
      process.stdout.write(`${row.perRequest.toFixed(2).padStart(7)}  ${row.subject}\n`);
    }
    process.stdout.write(
      `${total.toFixed(2).padStart(7)}  messages per request in all (${requests} requests)\n`,
    );
  }
} finally {
  await tap.close();
  await router.child.stop();
  await mock.child.stop();
  await nats.child.stop();
  await rm(workDir, { recursive: true, force: true });
}
