/**
 * The SDK × front door × provider matrix (issue 3, first acceptance bullet).
 *
 * Clients: the official `openai` SDK on `POST /v1/chat/completions` and `POST /v1/responses`
 * (issue 15), and the official
 * `@anthropic-ai/sdk` on `POST /v1/messages`, unchanged apart from `baseURL` and the key.
 * Providers, each behind its own adapter and wire format:
 * - `mock`      OpenAI chat completions (the built-in mock);
 * - `anthropic` Anthropic messages (a second mock's `/v1/messages`, via `anthropic.baseUrl`);
 * - `gemini`    Gemini generateContent / streamGenerateContent (that mock's `/v1beta`, via
 *               `gemini.baseUrl`, i.e. GEMINI_BASE_URL);
 * - `inhouse`   a custom provider of kind `nats-service`, served in the test on
 *               `bl.provider.inhouse` with the mock's answers (test/support/nats-provider-service.ts).
 * Every fake answers deterministically (src/providers/mock/answers.ts), so one expectation fits all.
 *
 * For each front door × provider × plain/streaming, asserted:
 * - a text answer: the exact text, the finish/stop reason, the usage the client sees;
 * - a tool-call round trip: the model calls `get_weather` with `{"city": <question>}` (arguments
 *   valid for the tool's schema, strings filled with the prompt), the
 *   client answers with a tool result, the model answers from it;
 * - for every request: `request.completed` names the provider and model that served it, and
 *   exactly one `usage.recorded` exists, with that provider and model and the same token
 *   counts the client was told (billing has acknowledged the terminal event before we count).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { geminiBaseUrl, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { type NatsProviderService, startNatsProviderService } from "../support/nats-provider-service.js";
import { requestEvidence } from "../support/request-evidence.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";

const PROVIDER_KEY = "sk-e2e-matrix-provider-key-0123456789";
/** Catalog model of each provider under test. */
const MODELS = [
  { id: "mock-small", provider: "mock", upstreamModel: "mock-small" },
  { id: "claude-haiku-4-5", provider: "anthropic", upstreamModel: "claude-haiku-4-5" },
  { id: "gemini-2.5-flash", provider: "gemini", upstreamModel: "gemini-2.5-flash" },
  { id: "inhouse-1", provider: "inhouse", upstreamModel: "inhouse-1" },
] as const;
type MatrixModel = (typeof MODELS)[number];

/**
 * What the fake model reads back as the tool result. Gemini's wire carries a tool result as a
 * `functionResponse` object, so a text result travels as `{"content": …}` (docs/providers.md)
 * and that object is what the Gemini fake echoes.
 */
function toolResultSeenBy(model: MatrixModel): string {
  return model.provider === "gemini" ? JSON.stringify({ content: TOOL_RESULT }) : TOOL_RESULT;
}

const QUESTION = "Weather in Paris?";
const TOOL_RESULT = "Sunny, 21 °C";
const openAiTools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    },
  },
];
const responsesTools: OpenAI.Responses.FunctionTool[] = [
  {
    type: "function",
    name: "get_weather",
    description: "Current weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } } },
    strict: false,
  },
];
const anthropicTools: Anthropic.Tool[] = [
  {
    name: "get_weather",
    description: "Current weather of a city",
    input_schema: { type: "object", properties: { city: { type: "string" } } },
  },
];

interface Tokens {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

describe("SDK × front door × provider matrix", { timeout: 90_000, concurrency: 8 }, () => {
  let beamline: TestBeamline;
  let wire: MockProvider;
  let catalog: TestCatalogFile;
  let inhouse: NatsProviderService;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    wire = await startMockProvider({ apiKey: PROVIDER_KEY });
    catalog = await writeTestCatalog("e2e-matrix.1", MODELS);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      anthropic: { apiKey: PROVIDER_KEY, baseUrl: wire.url },
      gemini: { apiKey: PROVIDER_KEY, baseUrl: geminiBaseUrl(wire.url) },
      providers: [{ kind: "nats-service", name: "inhouse", timeoutMs: 10_000, idleTimeoutMs: 5_000 }],
    });
    inhouse = await startNatsProviderService(beamline.server.url, "inhouse");
    openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
  });
  after(async () => {
    await inhouse?.stop();
    await beamline?.stop();
    await wire?.close();
    await catalog?.remove();
  });

  /** The request was served by `model` and billed once, with the tokens the client saw. */
  async function assertServedAndBilledOnce(requestId: string, model: MatrixModel, seen: Tokens) {
    const { terminal, attempts, usage } = await requestEvidence(beamline.nc, "dev", requestId);
    assert.equal(terminal.type, "request.completed", `${requestId} completed`);
    assert.equal(terminal.data.provider, model.provider);
    assert.equal(terminal.data.model, model.id);
    assert.deepEqual(
      attempts.map((attempt) => [attempt.type, attempt.data.provider]),
      [["attempt.succeeded", model.provider]],
    );
    assert.equal(usage.length, 1, "exactly one usage.recorded per request");
    const record = usage[0]!;
    assert.equal(record.outcome, "completed");
    assert.equal(record.provider, model.provider);
    assert.equal(record.model, model.id);
    assert.deepEqual(
      {
        promptTokens: record.promptTokens,
        completionTokens: record.completionTokens,
        cachedTokens: record.cachedTokens,
      },
      seen,
      "billed exactly what the client was told",
    );
    assert.ok(record.promptTokens > 0 && record.completionTokens > 0);
  }

  const fromOpenAi = (usage: OpenAI.CompletionUsage | undefined | null): Tokens => {
    assert.ok(usage, "the client got usage");
    return {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    };
  };
  const fromAnthropic = (usage: Anthropic.Usage): Tokens => ({
    promptTokens: usage.input_tokens + (usage.cache_read_input_tokens ?? 0),
    completionTokens: usage.output_tokens,
    cachedTokens: usage.cache_read_input_tokens ?? 0,
  });

  /** One OpenAI-SDK call, plain or streamed (with the usage chunk), assembled into one message. */
  async function openAiCall(
    model: MatrixModel,
    stream: boolean,
    messages: OpenAI.ChatCompletionMessageParam[],
    tools?: OpenAI.ChatCompletionTool[],
  ) {
    const body = { model: model.id, messages, ...(tools ? { tools } : {}) };
    if (!stream) {
      const completion = await openai.chat.completions.create(body);
      const choice = completion.choices[0]!;
      return {
        id: completion.id,
        content: choice.message.content,
        toolCalls: (choice.message.tool_calls ?? []).map((call) => {
          assert.equal(call.type, "function");
          return { id: call.id, name: call.function.name, arguments: call.function.arguments };
        }),
        finish: choice.finish_reason,
        usage: fromOpenAi(completion.usage),
      };
    }
    const chunks = await openai.chat.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    let id = "";
    let content: string | null = null;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let textChunks = 0;
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    for await (const chunk of chunks) {
      id = chunk.id;
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.content) {
        content = (content ?? "") + choice.delta.content;
        textChunks++;
      }
      for (const delta of choice.delta.tool_calls ?? []) {
        calls[delta.index] ??= { id: "", name: "", arguments: "" };
        const call = calls[delta.index]!;
        call.id += delta.id ?? "";
        call.name += delta.function?.name ?? "";
        call.arguments += delta.function?.arguments ?? "";
      }
      finish = choice.finish_reason ?? finish;
    }
    if (content !== null)
      assert.ok(textChunks > 1, `${model.provider} streamed text in ${textChunks} chunk(s)`);
    return { id, content, toolCalls: calls, finish, usage: fromOpenAi(usage) };
  }

  async function anthropicCall(
    model: MatrixModel,
    stream: boolean,
    messages: Anthropic.MessageParam[],
    tools?: Anthropic.Tool[],
  ) {
    const body = { model: model.id, max_tokens: 256, messages, ...(tools ? { tools } : {}) };
    if (!stream) return anthropic.messages.create(body);
    const types: string[] = [];
    const message = await anthropic.messages
      .stream(body)
      .on("streamEvent", (event) => types.push(event.type))
      .finalMessage();
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop", "a successful stream ends with message_stop");
    return message;
  }

  /** One Responses API call through the `openai` SDK, plain or streamed (its final Response). */
  async function responsesCall(
    model: MatrixModel,
    stream: boolean,
    input: string | OpenAI.Responses.ResponseInput,
    tools?: OpenAI.Responses.FunctionTool[],
  ): Promise<OpenAI.Responses.Response> {
    const body = { model: model.id, input, ...(tools ? { tools } : {}) };
    if (!stream) return openai.responses.create(body);
    const types: string[] = [];
    const response = await openai.responses
      .stream(body)
      .on("event", (event) => types.push(event.type))
      .finalResponse();
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed", "a successful stream ends with response.completed");
    return response;
  }

  const fromResponses = (usage: OpenAI.Responses.ResponseUsage | undefined): Tokens => {
    assert.ok(usage, "the client got usage");
    return {
      promptTokens: usage.input_tokens,
      completionTokens: usage.output_tokens,
      cachedTokens: usage.input_tokens_details.cached_tokens,
    };
  };

  for (const model of MODELS) {
    for (const stream of [false, true]) {
      const mode = stream ? "streaming" : "plain";

      it(`openai SDK → /v1/chat/completions → ${model.provider} (${mode}): text`, async () => {
        const answer = await openAiCall(model, stream, [{ role: "user", content: "Hello from the matrix" }]);
        assert.equal(answer.content, "Mock provider reply to: Hello from the matrix");
        assert.deepEqual(answer.toolCalls, []);
        assert.equal(answer.finish, "stop");
        assert.match(answer.id, /^req_/);
        await assertServedAndBilledOnce(answer.id, model, answer.usage);
      });

      it(`openai SDK → /v1/chat/completions → ${model.provider} (${mode}): tool call round trip`, async () => {
        const ask: OpenAI.ChatCompletionMessageParam = { role: "user", content: QUESTION };
        const first = await openAiCall(model, stream, [ask], openAiTools);
        assert.equal(first.finish, "tool_calls");
        assert.equal(first.content ?? "", "");
        assert.equal(first.toolCalls.length, 1);
        const call = first.toolCalls[0]!;
        assert.equal(call.name, "get_weather");
        assert.deepEqual(JSON.parse(call.arguments), { city: QUESTION });
        assert.ok(call.id.length > 0, "the tool call has an id to answer");
        const second = await openAiCall(
          model,
          stream,
          [
            ask,
            {
              role: "assistant",
              content: null,
              tool_calls: [
                { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } },
              ],
            },
            { role: "tool", tool_call_id: call.id, content: TOOL_RESULT },
          ],
          openAiTools,
        );
        assert.equal(second.content, `Mock provider received the tool result: ${toolResultSeenBy(model)}`);
        assert.equal(second.finish, "stop");
        await assertServedAndBilledOnce(first.id, model, first.usage);
        await assertServedAndBilledOnce(second.id, model, second.usage);
      });

      it(`anthropic SDK → /v1/messages → ${model.provider} (${mode}): text`, async () => {
        const message = await anthropicCall(model, stream, [
          { role: "user", content: "Hello from the matrix" },
        ]);
        assert.deepEqual(message.content, [
          { type: "text", text: "Mock provider reply to: Hello from the matrix" },
        ]);
        assert.equal(message.stop_reason, "end_turn");
        assert.equal(message.model, model.id);
        await assertServedAndBilledOnce(message.id, model, fromAnthropic(message.usage));
      });

      it(`anthropic SDK → /v1/messages → ${model.provider} (${mode}): tool use round trip`, async () => {
        const ask: Anthropic.MessageParam = { role: "user", content: QUESTION };
        const first = await anthropicCall(model, stream, [ask], anthropicTools);
        assert.equal(first.stop_reason, "tool_use");
        const use = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
        assert.ok(use, "the answer holds a tool_use block");
        assert.equal(use.name, "get_weather");
        assert.deepEqual(use.input, { city: QUESTION });
        const second = await anthropicCall(
          model,
          stream,
          [
            ask,
            { role: "assistant", content: first.content },
            { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: TOOL_RESULT }] },
          ],
          anthropicTools,
        );
        assert.deepEqual(second.content, [
          { type: "text", text: `Mock provider received the tool result: ${toolResultSeenBy(model)}` },
        ]);
        assert.equal(second.stop_reason, "end_turn");
        await assertServedAndBilledOnce(first.id, model, fromAnthropic(first.usage));
        await assertServedAndBilledOnce(second.id, model, fromAnthropic(second.usage));
      });

      it(`openai SDK → /v1/responses → ${model.provider} (${mode}): text`, async () => {
        const response = await responsesCall(model, stream, "Hello from the matrix");
        assert.equal(response.output_text, "Mock provider reply to: Hello from the matrix");
        assert.equal(response.status, "completed");
        assert.match(response.id, /^resp_req_/);
        await assertServedAndBilledOnce(
          response.id.slice("resp_".length),
          model,
          fromResponses(response.usage),
        );
      });

      it(`openai SDK → /v1/responses → ${model.provider} (${mode}): function call round trip`, async () => {
        const ask: OpenAI.Responses.ResponseInputItem = { role: "user", content: QUESTION };
        const first = await responsesCall(model, stream, [ask], responsesTools);
        const output: OpenAI.Responses.ResponseOutputItem[] = first.output;
        const call = output.find(
          (item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === "function_call",
        );
        assert.ok(call, "the answer holds a function_call item");
        assert.equal(call.name, "get_weather");
        assert.deepEqual(JSON.parse(call.arguments), { city: QUESTION });
        const second = await responsesCall(
          model,
          stream,
          [ask, call, { type: "function_call_output", call_id: call.call_id, output: TOOL_RESULT }],
          responsesTools,
        );
        assert.equal(
          second.output_text,
          `Mock provider received the tool result: ${toolResultSeenBy(model)}`,
        );
        await assertServedAndBilledOnce(first.id.slice("resp_".length), model, fromResponses(first.usage));
        await assertServedAndBilledOnce(second.id.slice("resp_".length), model, fromResponses(second.usage));
      });
    }
  }
});
