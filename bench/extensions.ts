/**
 * Overhead of the extension pipeline, side by side with the pipeline off:
 *
 *   node --import tsx bench/extensions.ts [--iterations 2000]
 *
 * - request stages: `normalize/v1` + `pii/v1` (pre) and `content-policy/v1` (validate) on a
 *   ~1 KB request holding a few PII values, against an empty pipeline;
 * - post, whole completion: `pii/v1` + `limit/v1` on a ~1 KB completion;
 * - post, streamed: the same completion as 64 chunks through `pii/v1` + `limit/v1`;
 * - one external hop: a `validate` step answered by a service on a local nats-server
 *   (core request-reply, JSON), against an empty pipeline.
 * Each is measured sequentially for a bounded number of iterations after a warm-up; the
 * figures are per request (per response for post). Everything stays on 127.0.0.1.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from "../src/chat/wire.js";
import {
  createNatsExtensionCaller,
  createResponseProcessor,
  extensionQueueGroup,
  extensionSubject,
  type Pipeline,
  type PipelineContext,
  pipelineSchema,
  runRequestStages,
  staticResolver,
} from "../src/extensions/index.js";
import { startNatsServer } from "../test/support/nats-server.js";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "2000" } } });
const iterations = Math.min(20_000, Math.max(100, Number(values.iterations)));
const warmup = Math.min(500, Math.floor(iterations / 4));

const prose =
  "Please summarise the attached notes for the quarterly review and keep the tone friendly. " +
  "The customer wrote from jane.doe@example.com and asked us to call back on +1 (415) 555-0132; " +
  "their card 4111 1111 1111 1111 was charged twice. ";
const text = prose.repeat(4);
const request: ChatRequest = {
  model: "mock-small",
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: text },
  ],
};
const completion: ChatCompletion = {
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1,
  model: "mock-small",
  choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
};
const CHUNKS = 64;
const chunkTexts = Array.from({ length: CHUNKS }, (_, i) =>
  text.slice(Math.floor((i * text.length) / CHUNKS), Math.floor(((i + 1) * text.length) / CHUNKS)),
);
const chunkOf = (content: string, finish: string | null): ChatCompletionChunk => ({
  id: "chatcmpl-bench",
  object: "chat.completion.chunk",
  created: 1,
  model: "mock-small",
  choices: [{ index: 0, delta: { content }, finish_reason: finish }],
});

const off = pipelineSchema.parse({});
const builtins = pipelineSchema.parse({
  pre: [
    { name: "normalize", version: "v1", settings: { maxTokensClamp: 4096, defaults: { temperature: 0.7 } } },
    { name: "pii", version: "v1" },
  ],
  validate: [
    {
      name: "content-policy",
      version: "v1",
      settings: { categories: [{ name: "competitors", action: "flag", terms: ["Acme Corp", "Globex"] }] },
    },
  ],
  post: [
    { name: "pii", version: "v1" },
    { name: "limit", version: "v1", settings: { maxTokens: 4000 } },
  ],
});
const external = pipelineSchema.parse({
  validate: [{ name: "bench-allow", version: "v1", timeoutMs: 2_000 }],
});

interface Figures {
  p50: number;
  p99: number;
  mean: number;
}

async function measure(run: () => unknown): Promise<Figures> {
  for (let i = 0; i < warmup; i += 1) await run();
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i += 1) {
    const started = performance.now();
    await run();
    samples[i] = performance.now() - started;
  }
  samples.sort();
  const at = (q: number) => samples[Math.min(iterations - 1, Math.floor(q * iterations))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / iterations };
}

async function streamThrough(pipeline: Pipeline, ctx: PipelineContext): Promise<void> {
  const processor = createResponseProcessor(pipeline, ctx);
  let sent = "";
  for (let i = 0; i < CHUNKS; i += 1) {
    const result = processor.transformChunk(chunkOf(chunkTexts[i] ?? "", i === CHUNKS - 1 ? "stop" : null));
    for (const c of result.chunks) sent += c.choices[0]?.delta.content ?? "";
  }
  for (const c of processor.endStream().chunks) sent += c.choices[0]?.delta.content ?? "";
  const assembled = {
    ...completion,
    choices: [
      {
        ...completion.choices[0],
        message: { role: "assistant" as const, content: sent },
        finish_reason: "stop",
      },
    ],
  };
  await processor.completeStream(assembled as ChatCompletion);
}

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
const serviceConnection = await connect({ servers: server.url });
const allow = new TextEncoder().encode(JSON.stringify({ contract: 1, verdict: "allow" }));
serviceConnection.subscribe(extensionSubject("bench-allow", "v1"), {
  queue: extensionQueueGroup("bench-allow", "v1"),
  callback: (_error, msg) => {
    msg.respond(allow);
  },
});
await serviceConnection.flush();

const ctx: PipelineContext = {
  tenant: "bench",
  requestId: "req_bench",
  resolver: staticResolver([{ name: "bench-allow", version: "v1", stages: ["validate"], contract: 1 }]),
  external: createNatsExtensionCaller(nc),
};

const rows: [string, Figures, Figures][] = [];
try {
  rows.push([
    "request: pre + validate (normalize, pii, content-policy)",
    await measure(() => runRequestStages(off, request, ctx)),
    await measure(() => runRequestStages(builtins, request, ctx)),
  ]);
  rows.push([
    "post, whole completion (pii, limit)",
    await measure(() => createResponseProcessor(off, ctx).processCompletion(completion)),
    await measure(() => createResponseProcessor(builtins, ctx).processCompletion(completion)),
  ]);
  rows.push([
    `post, streamed as ${CHUNKS} chunks (pii, limit)`,
    await measure(() => streamThrough(off, ctx)),
    await measure(() => streamThrough(builtins, ctx)),
  ]);
  rows.push([
    "one external validate step (NATS request-reply)",
    await measure(() => runRequestStages(off, request, ctx)),
    await measure(() => runRequestStages(external, request, ctx)),
  ]);
} finally {
  await serviceConnection.close();
  await nc.close();
  await server.stop();
}

const ms = (v: number) => (v < 0.01 ? v.toFixed(4) : v.toFixed(3));
console.log(`iterations per cell: ${iterations} (after ${warmup} warm-up), sequential, times in ms\n`);
console.log("| what | off p50 | off p99 | on p50 | on p99 | overhead p50 |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [what, a, b] of rows) {
  console.log(
    `| ${what} | ${ms(a.p50)} | ${ms(a.p99)} | ${ms(b.p50)} | ${ms(b.p99)} | ${ms(b.p50 - a.p50)} |`,
  );
}
