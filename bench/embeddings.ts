/**
 * Latency of `POST /v1/embeddings` beside a chat completion, through the whole router:
 *
 *   node --import tsx bench/embeddings.ts [--iterations 200]
 *
 * One process with every role on its own nats-server (test/support/beamline.ts: content
 * sealed, the built-in mock provider), the `openai` SDK as the client. After 20 warm-up calls
 * each, `iterations` sequential requests of: a chat completion (`mock-small`), one embedding
 * input (`mock-embed`), and sixteen. Prints p50 and p95 per kind. Everything stays on 127.0.0.1.
 */
import { parseArgs } from "node:util";
import OpenAI from "openai";
import { startTestBeamline } from "../test/support/beamline.js";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "200" } } });
const iterations = Number(values.iterations);
const beamline = await startTestBeamline();
const openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });

async function measure(label: string, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))]!.toFixed(1);
  console.log(`${label}: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms`);
}

try {
  await measure("chat mock-small", () =>
    openai.chat.completions.create({
      model: "mock-small",
      messages: [{ role: "user", content: "hello there" }],
    }),
  );
  await measure("embeddings mock-embed, 1 input", () =>
    openai.embeddings.create({ model: "mock-embed", input: "hello there" }),
  );
  await measure("embeddings mock-embed, 16 inputs", () =>
    openai.embeddings.create({
      model: "mock-embed",
      input: Array.from({ length: 16 }, (_, i) => `text number ${i}`),
    }),
  );
} finally {
  await beamline.stop();
}
