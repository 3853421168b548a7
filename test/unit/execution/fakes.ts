import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import {
  type Admission,
  type AttemptRecord,
  type BreakerGate,
  type Candidate,
  ConcurrencyPools,
  type ExecutionInput,
  type ExecutionPolicyInput,
  executionPolicy,
} from "../../../src/execution/index.js";
import {
  createProviderRegistry,
  type ProviderAdapter,
  type ProviderCall,
  ProviderError,
  type ProviderErrorClass,
  type ProviderResult,
} from "../../../src/providers/index.js";
import type { VirtualClock } from "../../support/index.js";

export const request: ChatRequest = { model: "m", messages: [{ role: "user", content: "12345678" }] };

export function completion(text: string): ChatCompletion {
  return {
    id: "up",
    object: "chat.completion",
    created: 0,
    model: "up",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
  };
}

export function chunk(text: string): ChatCompletionChunk {
  return {
    id: "up",
    object: "chat.completion.chunk",
    created: 0,
    model: "up",
    choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
  };
}

/** What one scripted call does. */
export type Step = (call: ProviderCall, clock: VirtualClock) => Promise<ProviderResult>;

export const ok =
  (text = "hi", afterMs = 10): Step =>
  async (_call, clock) => {
    await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), afterMs));
    return {
      completion: completion(text),
      usage: { promptTokens: 3, completionTokens: 1, cachedTokens: 0 },
      timeToFirstTokenMs: afterMs,
    };
  };

export const fail =
  (errorClass: ProviderErrorClass, options: { retryAfterMs?: number; providerStatus?: number } = {}): Step =>
  async () => {
    throw new ProviderError(errorClass, `injected ${errorClass}`, options);
  };

/** Never answers; rejects with the signal's reason when aborted (as real adapters do). */
export const hang: Step = (call) =>
  new Promise((_, reject) => call.signal?.addEventListener("abort", () => reject(call.signal?.reason)));

/** Streams `texts` one every `gapMs`, then finishes with `end`. */
export const stream =
  (texts: string[], gapMs: number, end: "ok" | "cut" | "hang"): Step =>
  async (call, clock) => {
    for (const text of texts) {
      await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), gapMs));
      if (call.signal?.aborted) throw call.signal.reason;
      call.onChunk?.(chunk(text));
    }
    if (end === "cut") throw new ProviderError("stream_interrupted", "cut mid-stream");
    if (end === "hang") return hang(call, clock);
    return {
      completion: completion(texts.join("")),
      usage: { promptTokens: 3, completionTokens: texts.length, cachedTokens: 0 },
      timeToFirstTokenMs: gapMs,
    };
  };

/** A provider whose calls follow `steps` in order; records the upstream models it was called with. */
export function scriptedAdapter(name: string, clock: VirtualClock, steps: Step[]) {
  const calls: string[] = [];
  const adapter: ProviderAdapter = {
    name,
    complete(call) {
      calls.push(call.upstreamModel);
      const step = steps.shift();
      if (!step) throw new Error(`${name}: unexpected call ${calls.length}`);
      return step(call, clock);
    },
    close: async () => undefined,
  };
  return { adapter, calls };
}

export function candidate(provider: string, model = `${provider}-model`): Candidate {
  return { provider, model, upstreamModel: `${model}-up`, score: 1, reason: "test" };
}

/** A gate answering from a fixed table: provider → admission; absent means closed. */
export function gate(table: Record<string, Admission> = {}): BreakerGate {
  return {
    isOpen: (provider) => table[provider]?.admitted === false && table[provider].reason === "circuit_open",
    admit: async (provider) => table[provider] ?? { admitted: true, probe: false },
  };
}

export interface Harness {
  input: ExecutionInput;
  recorded: AttemptRecord[];
  sent: Array<{ text: string; attempt: number }>;
  hooks: {
    recordAttempt(record: AttemptRecord): Promise<AttemptRecord>;
    sendChunk(c: ChatCompletionChunk, g: { attempt: number }): void;
  };
}

export function harness(
  clock: VirtualClock,
  adapters: ProviderAdapter[],
  candidates: Candidate[],
  options: {
    policy?: ExecutionPolicyInput;
    stream?: boolean;
    breakers?: BreakerGate;
    pools?: ConcurrencyPools;
    stored?: AttemptRecord[];
    random?: () => number;
  } = {},
): Harness {
  const recorded: AttemptRecord[] = [];
  const sent: Array<{ text: string; attempt: number }> = [];
  return {
    recorded,
    sent,
    input: {
      requestId: "req_1",
      request,
      stream: options.stream ?? false,
      candidates,
      storedAttempts: options.stored ?? [],
      providers: createProviderRegistry(adapters),
      breakers: options.breakers ?? gate(),
      pools:
        options.pools ??
        new ConcurrencyPools(() => ({ maxConcurrent: 10, maxQueued: 10, queueTimeoutMs: 1000 }), clock),
      policy: executionPolicy({ timeToFirstTokenMs: 1000, idleMs: 500, totalMs: 5000, ...options.policy }),
      clock,
      random: options.random ?? (() => 0.5),
    },
    hooks: {
      async recordAttempt(record) {
        recorded.push(record);
        return record;
      },
      sendChunk(c, g) {
        sent.push({ text: c.choices[0]?.delta.content ?? "", attempt: g.attempt });
      },
    },
  };
}
