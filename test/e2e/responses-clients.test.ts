/**
 * Client libraries whose defaults speak the Responses API, unchanged apart from the base URL
 * and key (issue 15): the AI SDK's default `openai(model)` provider (generateText, streamText,
 * a tool loop, and a follow-up turn whose earlier answer it sends back as `item_reference`)
 * and LangChain's `ChatOpenAI` with `useResponsesApi` (invoke and stream). After the traffic,
 * the log is the record: billing reconciles (every answer billed once) and audit verifies.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { type EventData, isEvent } from "../../src/events/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { requestEvidence } from "../support/request-evidence.js";

const MODEL = "mock-small";

describe("Responses API clients: AI SDK and LangChain", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let provider: ReturnType<typeof createOpenAI>;

  before(async () => {
    beamline = await startTestBeamline({ notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 } });
    provider = createOpenAI({ baseURL: `${beamline.baseUrl}/v1`, apiKey: beamline.devKey });
  });
  after(async () => {
    await beamline?.stop();
  });

  /** The `request.accepted` data (content opened) of a dev-tenant request. */
  async function acceptedOf(requestId: string): Promise<EventData<"request.accepted">> {
    const history = await readRequestHistory(beamline.nc, "dev", requestId);
    const accepted = history.map(({ event }) => event).find((event) => isEvent(event, "request.accepted"));
    assert.ok(accepted, `request.accepted of ${requestId}`);
    return accepted.data as EventData<"request.accepted">;
  }

  /** The response came through the Responses door and was billed once with these counts. */
  async function assertResponsesBilledOnce(responseId: string, inputTokens?: number, outputTokens?: number) {
    assert.match(responseId, /^resp_/);
    const requestId = responseId.slice("resp_".length);
    const { terminal, usage } = await requestEvidence(beamline.nc, "dev", requestId);
    assert.equal(terminal.type, "request.completed");
    assert.equal((await acceptedOf(requestId)).frontDoor, "responses");
    assert.equal(usage.length, 1, "exactly one usage.recorded");
    if (inputTokens !== undefined) assert.equal(usage[0]!.promptTokens, inputTokens);
    if (outputTokens !== undefined) assert.equal(usage[0]!.completionTokens, outputTokens);
  }

  it("AI SDK: generateText with the default openai(model) provider", async () => {
    const result = await generateText({ model: provider(MODEL), prompt: "Hello from the AI SDK" });
    assert.equal(result.text, "Mock provider reply to: Hello from the AI SDK");
    assert.equal(result.finishReason, "stop");
    await assertResponsesBilledOnce(result.response.id, result.usage.inputTokens, result.usage.outputTokens);
  });

  it("AI SDK: streamText streams the text in parts", async () => {
    const result = streamText({ model: provider(MODEL), prompt: "Stream from the AI SDK" });
    const parts: string[] = [];
    for await (const part of result.textStream) parts.push(part);
    assert.ok(parts.length > 1, `text streamed in ${parts.length} part(s)`);
    assert.equal(parts.join(""), "Mock provider reply to: Stream from the AI SDK");
    assert.equal(await result.finishReason, "stop");
    const usage = await result.usage;
    await assertResponsesBilledOnce((await result.response).id, usage.inputTokens, usage.outputTokens);
  });

  it("AI SDK: a tool loop calls the tool and answers from its result", async () => {
    const calls: unknown[] = [];
    const result = await generateText({
      model: provider(MODEL),
      prompt: "Weather in Paris?",
      tools: {
        get_weather: tool({
          description: "Current weather of a city",
          inputSchema: jsonSchema<{ input?: string }>({
            type: "object",
            properties: { input: { type: "string" } },
          }),
          execute: async (input) => {
            calls.push(input);
            return "Sunny, 21 °C";
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    assert.deepEqual(calls, [{ input: "Weather in Paris?" }]);
    assert.equal(result.steps.length, 2);
    assert.match(result.text, /^Mock provider received the tool result: .*Sunny, 21 °C/);
    for (const step of result.steps) await assertResponsesBilledOnce(step.response.id);
  });

  it("AI SDK: a follow-up turn sends the earlier answer back as an item_reference, read from the log", async () => {
    const first = await generateText({ model: provider(MODEL), prompt: "My name is Ada." });
    const sent: Array<{ input?: Array<{ type?: string }> }> = [];
    const watching = createOpenAI({
      baseURL: `${beamline.baseUrl}/v1`,
      apiKey: beamline.devKey,
      fetch: async (url, init) => {
        sent.push(JSON.parse(String(init?.body)));
        return fetch(url, init);
      },
    });
    const second = await generateText({
      model: watching(MODEL),
      messages: [
        { role: "user", content: "My name is Ada." },
        ...first.response.messages,
        { role: "user", content: "What is my name?" },
      ],
    });
    assert.equal(second.text, "Mock provider reply to: What is my name?");
    assert.ok(
      sent[0]?.input?.some((item) => item.type === "item_reference"),
      "the AI SDK referred to its earlier answer by item id",
    );
    const requestId = second.response.id.slice("resp_".length);
    assert.deepEqual((await acceptedOf(requestId)).request?.messages, [
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Mock provider reply to: My name is Ada." },
      { role: "user", content: "What is my name?" },
    ]);
    await assertResponsesBilledOnce(second.response.id);
  });

  it("LangChain: ChatOpenAI with useResponsesApi invokes", async () => {
    const chat = new ChatOpenAI({
      model: MODEL,
      apiKey: beamline.devKey,
      useResponsesApi: true,
      configuration: { baseURL: `${beamline.baseUrl}/v1` },
      maxRetries: 0,
    });
    const message = await chat.invoke("Hello from LangChain");
    assert.equal(message.text, "Mock provider reply to: Hello from LangChain");
    const id = message.response_metadata["id"] ?? message.id;
    assert.equal(typeof id, "string");
    await assertResponsesBilledOnce(
      id as string,
      message.usage_metadata?.input_tokens,
      message.usage_metadata?.output_tokens,
    );
  });

  it("LangChain: ChatOpenAI with useResponsesApi streams", async () => {
    const chat = new ChatOpenAI({
      model: MODEL,
      apiKey: beamline.devKey,
      useResponsesApi: true,
      configuration: { baseURL: `${beamline.baseUrl}/v1` },
      maxRetries: 0,
    });
    const texts: string[] = [];
    for await (const chunk of await chat.stream("Stream from LangChain"))
      if (chunk.text) texts.push(chunk.text);
    assert.ok(texts.length > 1, `streamed in ${texts.length} chunk(s)`);
    assert.equal(texts.join(""), "Mock provider reply to: Stream from LangChain");
  });

  it("after the traffic the log is the record: billing reconciles and audit verifies", async () => {
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});
