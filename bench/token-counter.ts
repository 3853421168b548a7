/**
 * Token counter: estimate error against provider-reported prompt tokens, before and after the
 * shared counter (src/tokens), and its cost per request.
 *
 *   node --import tsx bench/token-counter.ts [--requests 240] [--seed 11] [--iterations 2000]
 *
 * The sample is generated deterministically from the seed: prose in nine languages, code,
 * numbers and identifiers, short and long, one to eight messages, with and without names and
 * tool definitions. "Provider-reported" prompt tokens for OpenAI models are what OpenAI bills:
 * the model's encoding, 3 framing tokens per message (1 more with a name), 3 priming tokens,
 * and for tools the formula OpenAI's cookbook publishes. Anthropic and Gemini publish no
 * tokenizer for their current models, so their rows compare the approximation with the
 * OpenAI encodings' counts: the margin it carries, not its error against the real count.
 */
import { parseArgs } from "node:util";
import type { ChatRequest } from "../src/chat/wire.js";
import {
  countPromptTokens,
  countTextTokens,
  promptTokenCounter,
  type TokenizerKind,
  TokenizerKinds,
  tokenizerFor,
} from "../src/tokens/index.js";
import { encoding } from "../src/tokens/tokenizers.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "240" },
    seed: { type: "string", default: "11" },
    iterations: { type: "string", default: "2000" },
  },
});

// ---------------------------------------------------------------- deterministic sample

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROSE: Record<string, string[]> = {
  en: [
    "The router picks a model for every request and records why it chose it.",
    "Quotas are enforced before the provider is called, so a runaway client cannot overspend.",
    "Please summarise the attached meeting notes in three bullet points.",
    "What is the difference between at-least-once and exactly-once delivery?",
  ],
  de: [
    "Der Router wählt für jede Anfrage ein Modell und hält fest, warum.",
    "Bitte fasse die Besprechungsnotizen in drei Stichpunkten zusammen.",
  ],
  fr: [
    "Le routeur choisit un modèle pour chaque requête et enregistre pourquoi.",
    "Quelle est la différence entre une livraison au moins une fois et exactement une fois ?",
  ],
  es: ["El enrutador elige un modelo para cada petición y registra el motivo."],
  ru: [
    "Маршрутизатор выбирает модель для каждого запроса и записывает причину.",
    "Пожалуйста, кратко изложи заметки со встречи в трёх пунктах.",
  ],
  zh: ["路由器为每个请求选择一个模型，并记录选择的原因。", "请用三个要点总结会议记录。"],
  ja: ["ルーターはリクエストごとにモデルを選び、その理由を記録します。"],
  ar: ["يختار الموجه نموذجًا لكل طلب ويسجل سبب اختياره."],
  hi: ["राउटर हर अनुरोध के लिए एक मॉडल चुनता है और कारण दर्ज करता है।"],
};

const CODE = [
  "export function add(a: number, b: number): number {\n  return a + b;\n}\n",
  "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
  "SELECT tenant_id, SUM(cost_nano_usd) AS spend FROM usage WHERE day >= '2026-01-01' GROUP BY tenant_id;\n",
  '{"id":"req_01HZX","tenant":"acme","usage":{"prompt_tokens":812,"completion_tokens":64}}\n',
  "for (let i = 0; i < rows.length; i++) {\n\tif (rows[i]!.state === 'open') count++;\n}\n",
];

function numbers(random: () => number): string {
  const kind = Math.floor(random() * 4);
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join("");
  if (kind === 0)
    return `Order ${digits(12)} totals ${digits(4)}.${digits(2)} EUR, card ending ${digits(4)}.`;
  if (kind === 1)
    return `| id | value |\n|----|-------|\n| ${digits(3)} | ${digits(7)} |\n| ${digits(3)} | ${digits(9)} |\n`;
  if (kind === 2) {
    const hex = Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join("");
    return `sha256 prefix ${hex} at offset 0x${hex.slice(0, 8)}`;
  }
  const b64 = Buffer.from(digits(48)).toString("base64");
  return `token=${b64}`;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** One piece of message text of the given flavour, `repeat` fragments long. */
function text(random: () => number, flavour: string, repeat: number): string {
  const parts: string[] = [];
  for (let i = 0; i < repeat; i++) {
    if (flavour === "code") parts.push(pick(random, CODE));
    else if (flavour === "numbers") parts.push(numbers(random));
    else if (flavour === "emoji")
      parts.push(`${pick(random, PROSE.en ?? [])} 🚀✅🔥 ${"👍🏽".repeat(1 + (i % 3))}`);
    else parts.push(pick(random, PROSE[flavour] ?? []));
  }
  return parts.join(flavour === "code" ? "\n" : " ");
}

const FLAVOURS = [...Object.keys(PROSE), "code", "numbers", "emoji"];

function tool(random: () => number, index: number): { type: string; [key: string]: unknown } {
  const properties: Record<string, Record<string, unknown>> = {
    query: { type: "string", description: "What to look up." },
    limit: { type: "integer", description: "Most results to return." },
  };
  if (random() < 0.5)
    properties.unit = { type: "string", description: "Unit.", enum: ["celsius", "fahrenheit"] };
  return {
    type: "function",
    function: {
      name: `lookup_${index}`,
      description: pick(random, [
        "Searches the knowledge base.",
        "Gets the current weather for a city.",
        "Runs a SQL query.",
      ]),
      parameters: { type: "object", properties, required: ["query"] },
    },
  };
}

/** The sample: `count` chat requests, deterministic for a seed. */
export function sampleRequests(count: number, seed: number): ChatRequest[] {
  const random = mulberry32(seed);
  const requests: ChatRequest[] = [];
  for (let r = 0; r < count; r++) {
    const flavour = FLAVOURS[r % FLAVOURS.length] as string;
    const long = random() < 0.25;
    const messages: ChatRequest["messages"] = [];
    if (random() < 0.6)
      messages.push({ role: "system", content: text(random, "en", 1 + Math.floor(random() * 3)) });
    const turns = 1 + Math.floor(random() * 4);
    for (let t = 0; t < turns; t++) {
      const size = long ? 20 + Math.floor(random() * 80) : 1 + Math.floor(random() * 4);
      const user: ChatRequest["messages"][number] = { role: "user", content: text(random, flavour, size) };
      if (random() < 0.15) user.name = pick(random, ["alice", "bob_smith", "ops-bot"]);
      messages.push(user);
      if (t < turns - 1)
        messages.push({ role: "assistant", content: text(random, flavour, 1 + Math.floor(random() * 3)) });
    }
    const request: ChatRequest = { model: "auto", messages };
    if (random() < 0.25)
      request.tools = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => tool(random, i));
    requests.push(request);
  }
  return requests;
}

// ---------------------------------------------------------------- "provider-reported" counts

function bpe(kind: "o200k_base" | "cl100k_base", value: string): number {
  return encoding(kind).count(value);
}

/** OpenAI's cookbook formula for tool definitions (flat parameters, enums). */
function cookbookTools(kind: "o200k_base" | "cl100k_base", tools: readonly unknown[]): number {
  const funcInit = kind === "o200k_base" ? 7 : 10;
  let tokens = 0;
  for (const entry of tools) {
    const fn = (
      entry as {
        function: {
          name: string;
          description?: string;
          parameters?: {
            properties?: Record<string, { type?: string; description?: string; enum?: string[] }>;
          };
        };
      }
    ).function;
    tokens += funcInit + bpe(kind, `${fn.name}:${(fn.description ?? "").replace(/\.$/, "")}`);
    const properties = Object.entries(fn.parameters?.properties ?? {});
    if (properties.length > 0) {
      tokens += 3;
      for (const [key, property] of properties) {
        tokens += 3;
        if (property.enum) {
          tokens -= 3;
          for (const item of property.enum) tokens += 3 + bpe(kind, item);
        }
        tokens += bpe(
          kind,
          `${key}:${property.type ?? ""}:${(property.description ?? "").replace(/\.$/, "")}`,
        );
      }
    }
  }
  return tokens + 12;
}

/** Prompt tokens OpenAI reports for `request` on a model with encoding `kind`. */
function providerReported(kind: "o200k_base" | "cl100k_base", request: ChatRequest): number {
  let tokens = 3;
  for (const message of request.messages) {
    tokens += 3 + bpe(kind, message.role);
    if (typeof message.content === "string") tokens += bpe(kind, message.content);
    if (typeof message.name === "string") tokens += 1 + bpe(kind, message.name);
  }
  if (request.tools && request.tools.length > 0) tokens += cookbookTools(kind, request.tools);
  return tokens;
}

// ---------------------------------------------------------------- the old heuristics (deleted from src)

/** Routing and quota admission before: ASCII / 4 plus one token per other code point, 4 per message, 3 priming, tools as JSON. */
function oldRouting(request: ChatRequest): number {
  const estimate = (value: string) => {
    let ascii = 0;
    let other = 0;
    for (const char of value) {
      if (char.charCodeAt(0) < 128) ascii++;
      else other++;
    }
    return Math.ceil(ascii / 4) + other;
  };
  let tokens = 3;
  for (const message of request.messages) {
    tokens += 4;
    if (typeof message.name === "string") tokens += estimate(message.name);
    if (typeof message.content === "string") tokens += estimate(message.content);
  }
  if (request.tools && request.tools.length > 0) tokens += estimate(JSON.stringify(request.tools));
  return tokens;
}

/** The executor's fallback usage before: the messages' JSON length / 4. */
function oldExecutor(request: ChatRequest): number {
  return Math.ceil(JSON.stringify(request.messages).length / 4);
}

/** The mock provider before: each message's text length / 4, nothing else. */
function oldMock(request: ChatRequest): number {
  let tokens = 0;
  for (const message of request.messages) {
    tokens += Math.ceil((typeof message.content === "string" ? message.content.length : 0) / 4);
  }
  return tokens;
}

// ---------------------------------------------------------------- error statistics

interface ErrorSummary {
  meanPct: number;
  meanAbsPct: number;
  p95AbsPct: number;
  /** Worst under-estimate in percent of the true count (0 when never under). */
  maxUnderPct: number;
  under: number;
}

function summarise(estimates: number[], truths: number[]): ErrorSummary {
  const errors = estimates.map(
    (estimate, i) => ((estimate - (truths[i] as number)) / (truths[i] as number)) * 100,
  );
  const abs = errors.map(Math.abs).sort((a, b) => a - b);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    meanPct: mean(errors),
    meanAbsPct: mean(abs),
    p95AbsPct: abs[Math.min(abs.length - 1, Math.ceil(abs.length * 0.95) - 1)] as number,
    maxUnderPct: Math.max(0, ...errors.map((e) => -e)),
    under: errors.filter((e) => e < 0).length,
  };
}

const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;

function row(label: string, summary: ErrorSummary, total: number): string {
  return `| ${label} | ${pct(summary.meanPct)} | ${summary.meanAbsPct.toFixed(1)} % | ${summary.p95AbsPct.toFixed(1)} % | ${summary.maxUnderPct.toFixed(1)} % | ${summary.under} / ${total} |`;
}

// ---------------------------------------------------------------- run

const count = Number(values.requests);
const requests = sampleRequests(count, Number(values.seed));

const loadStarted = performance.now();
encoding("o200k_base");
const o200kLoadMs = performance.now() - loadStarted;
const cl100kStarted = performance.now();
encoding("cl100k_base");
const cl100kLoadMs = performance.now() - cl100kStarted;

const truthO200k = requests.map((r) => providerReported("o200k_base", r));
const truthCl100k = requests.map((r) => providerReported("cl100k_base", r));
const counted = (kind: TokenizerKind) => requests.map((r) => countPromptTokens(kind, r));

console.log(
  `sample: ${count} requests, seed ${values.seed}; chars ${requests.reduce((s, r) => s + JSON.stringify(r.messages).length, 0)}`,
);
console.log(
  `encoding load: o200k_base ${o200kLoadMs.toFixed(0)} ms, cl100k_base ${cl100kLoadMs.toFixed(0)} ms (once per process)\n`,
);
console.log(
  "| estimate | mean error | mean abs error | p95 abs error | max under-estimate | requests under |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [model, truth, kind] of [
  ["gpt-4o (o200k_base)", truthO200k, TokenizerKinds.o200k],
  ["gpt-4 (cl100k_base)", truthCl100k, TokenizerKinds.cl100k],
] as const) {
  console.log(row(`${model}, before: routing / quota`, summarise(requests.map(oldRouting), truth), count));
  console.log(row(`${model}, before: executor fallback`, summarise(requests.map(oldExecutor), truth), count));
  console.log(row(`${model}, before: mock`, summarise(requests.map(oldMock), truth), count));
  console.log(row(`${model}, after: shared counter`, summarise(counted(kind), truth), count));
}
const approximate = counted(TokenizerKinds.approximate);
console.log(row("approximate vs o200k_base count", summarise(approximate, truthO200k), count));
console.log(row("approximate vs cl100k_base count", summarise(approximate, truthCl100k), count));
console.log(
  row("before (routing) vs cl100k_base count", summarise(requests.map(oldRouting), truthCl100k), count),
);

// Characters per cl100k token on plain English prose: what the approximation factor rests on.
const english = text(mulberry32(1), "en", 400);
console.log(
  `\nEnglish prose: ${(english.length / countTextTokens(TokenizerKinds.cl100k, english)).toFixed(2)} chars per cl100k token, ${(english.length / countTextTokens(TokenizerKinds.o200k, english)).toFixed(2)} per o200k token`,
);
for (const flavour of FLAVOURS) {
  const sample = text(mulberry32(2), flavour, 200);
  const cl = countTextTokens(TokenizerKinds.cl100k, sample);
  const o = countTextTokens(TokenizerKinds.o200k, sample);
  console.log(
    `  ${flavour.padEnd(8)} chars/token cl100k ${(sample.length / cl).toFixed(2)}, o200k ${(sample.length / o).toFixed(2)}; chars/3 vs cl100k ${pct((Math.ceil(sample.length / 3) / cl - 1) * 100)}`,
  );
}

// Cost per request: a typical chat (system prompt, three turns, ~1.5 KB) and the sample's largest.
const typical: ChatRequest = {
  model: "auto",
  messages: [
    { role: "system", content: text(mulberry32(3), "en", 3) },
    { role: "user", content: text(mulberry32(4), "en", 8) },
    { role: "assistant", content: text(mulberry32(5), "en", 6) },
    { role: "user", content: `${text(mulberry32(6), "code", 3)}\n${text(mulberry32(7), "en", 2)}` },
  ],
};
const largest = requests.reduce((a, b) => (JSON.stringify(a).length >= JSON.stringify(b).length ? a : b));
const iterations = Number(values.iterations);
function time(label: string, request: ChatRequest, fn: (r: ChatRequest) => number): void {
  for (let i = 0; i < 200; i++) fn(request);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    fn(request);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    ((samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] as number) * 1000).toFixed(1);
  console.log(`| ${label} | ${JSON.stringify(request.messages).length} | ${at(0.5)} | ${at(0.99)} |`);
}
console.log("\n| counting | request chars | p50 µs | p99 µs |");
console.log("| --- | --- | --- | --- |");
for (const request of [typical, largest]) {
  time("before: routing heuristic", request, oldRouting);
  time("o200k_base", request, (r) => countPromptTokens(TokenizerKinds.o200k, r));
  time("cl100k_base", request, (r) => countPromptTokens(TokenizerKinds.cl100k, r));
  time("approximate", request, (r) => countPromptTokens(TokenizerKinds.approximate, r));
  time("routing: gpt-4o + gpt-4-turbo + claude (2 encodings)", request, (r) => {
    const count = promptTokenCounter(r);
    return Math.max(
      count(tokenizerFor({ provider: "openai", upstreamModel: "gpt-4o" })),
      count(tokenizerFor({ provider: "openai", upstreamModel: "gpt-4-turbo" })),
      count(tokenizerFor({ provider: "anthropic", upstreamModel: "claude-sonnet-4" })),
    );
  });
}
