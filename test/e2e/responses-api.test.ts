/**
 * The OpenAI Responses API front door (`POST /v1/responses`, issue 15) with the official
 * `openai` SDK, unchanged apart from `baseURL` and the key: plain and streamed answers (every
 * typed event checked in order), function tools, `previous_response_id` continued on another
 * gateway instance (read from the log), the errors of unknown and foreign ids, and the 400 of a
 * tenant that keeps no content. Every answer is billed exactly once with the counts the client saw.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { loadConfig } from "../../src/config/index.js";
import { type EventData, isEvent } from "../../src/events/index.js";
import { createLogger } from "../../src/observability/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { type RunningBeamline, startBeamline } from "../../src/runtime/index.js";
import { startTestBeamline, TEST_DEV_KEY, type TestBeamline } from "../support/beamline.js";
import { TEST_MASTER_KEY } from "../support/cli.js";
import { createTenantWithKey } from "../support/extensions.js";
import { readRequestHistory } from "../support/history.js";
import { requestEvidence } from "../support/request-evidence.js";
import { TEST_EVENT_SIGNING_KEY } from "../support/signing.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";

const MODEL = "mock-small";
const weatherTool: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "Current weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } } },
  strict: false,
};

/** The request id a Beamline response id names (`resp_<requestId>`). */
function requestIdOf(responseId: string): string {
  assert.match(responseId, /^resp_/);
  return responseId.slice("resp_".length);
}

describe("OpenAI Responses API (openai SDK)", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let openai: OpenAI;
  let second: RunningBeamline;
  let secondDataDir: string;
  let secondGateway: OpenAI;

  let catalog: TestCatalogFile;

  before(async () => {
    catalog = await writeTestCatalog("e2e-responses.1", [
      { id: MODEL, provider: "mock", upstreamModel: MODEL },
      // Fails with an error event after its first content: a stream cut after bytes went out.
      { id: "mock-stream-error", provider: "mock", upstreamModel: "mock-fault-stream_error" },
    ]);
    beamline = await startTestBeamline({ catalogFile: catalog.path });
    openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    // A second gateway instance on the same NATS: it shares nothing with the first but the log.
    secondDataDir = await mkdtemp(join(tmpdir(), "bl-test-gw2-"));
    second = await startBeamline(
      loadConfig({
        httpPort: 0,
        devKey: TEST_DEV_KEY,
        roles: ["gateway"],
        natsUrl: beamline.server.url,
        dataDir: secondDataDir,
        eventSigning: { key: TEST_EVENT_SIGNING_KEY },
        contentAtRest: { masterKey: TEST_MASTER_KEY },
        metrics: { port: 0 },
      }),
      { log: createLogger({ level: "silent" }) },
    );
    secondGateway = new OpenAI({ apiKey: beamline.devKey, baseURL: `${second.httpUrl}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await second?.stop();
    await beamline?.stop();
    if (secondDataDir) await rm(secondDataDir, { recursive: true, force: true });
    await catalog?.remove();
  });

  async function assertBilledOnce(responseId: string, usage: OpenAI.Responses.ResponseUsage | undefined) {
    assert.ok(usage, "the client got usage");
    const { terminal, usage: records } = await requestEvidence(beamline.nc, "dev", requestIdOf(responseId));
    assert.equal(terminal.type, "request.completed");
    assert.equal(records.length, 1, "exactly one usage.recorded");
    assert.equal(records[0]!.promptTokens, usage.input_tokens);
    assert.equal(records[0]!.completionTokens, usage.output_tokens);
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
  }

  /** The `request.accepted` data (content opened) of a response of the dev tenant. */
  async function acceptedOf(responseId: string): Promise<EventData<"request.accepted">> {
    const history = await readRequestHistory(beamline.nc, "dev", requestIdOf(responseId));
    const accepted = history.map(({ event }) => event).find((event) => isEvent(event, "request.accepted"));
    assert.ok(accepted, `request.accepted of ${responseId}`);
    return accepted.data as EventData<"request.accepted">;
  }

  it("answers a string input with a completed Response object", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: "Hello from the Responses API",
      instructions: "Be brief.",
      metadata: { ticket: "T-1" },
      temperature: 0.5,
    });
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.equal(response.error, null);
    assert.equal(response.incomplete_details, null);
    assert.equal(response.output_text, "Mock provider reply to: Hello from the Responses API");
    assert.equal(response.output.length, 1);
    const message = response.output[0]!;
    assert.equal(message.type, "message");
    assert.equal(message.status, "completed");
    assert.equal(message.role, "assistant");
    assert.equal(response.instructions, "Be brief.");
    assert.deepEqual(response.metadata, { ticket: "T-1" });
    assert.equal(response.temperature, 0.5);
    assert.equal(response.model, MODEL);
    await assertBilledOnce(response.id, response.usage);
    // The instructions went to the model as its system message, and the record says which door.
    const data = await acceptedOf(response.id);
    assert.equal(data.frontDoor, "responses");
    assert.deepEqual(data.request?.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello from the Responses API" },
    ]);
  });

  it("reports a response cut by max_output_tokens as incomplete", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: [
        { role: "user", content: [{ type: "input_text", text: "Tell me a rather long story please" }] },
      ],
      max_output_tokens: 3,
    });
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(response.max_output_tokens, 3);
    assert.equal(response.usage?.output_tokens, 3);
  });

  it("streams typed events in order, each with its sequence number", async () => {
    const stream = await openai.responses.create({ model: MODEL, input: "Stream this answer", stream: true });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    assert.deepEqual(
      events.map((event) => event.sequence_number),
      events.map((_event, index) => index),
    );
    const types = events.map((event) => event.type);
    const deltas = events.filter((event) => event.type === "response.output_text.delta");
    assert.ok(deltas.length > 1, `text streamed in ${deltas.length} delta(s)`);
    assert.deepEqual(types, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      ...deltas.map(() => "response.output_text.delta"),
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
    assert.equal(created.response.status, "in_progress");
    assert.deepEqual(created.response.output, []);
    const text = deltas.map((event) => event.delta).join("");
    assert.equal(text, "Mock provider reply to: Stream this answer");
    const done = events.find((event) => event.type === "response.output_text.done");
    assert.equal(done?.text, text);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    assert.equal(completed.response.id, created.response.id);
    assert.equal(completed.response.status, "completed");
    const item = completed.response.output[0] as OpenAI.Responses.ResponseOutputMessage;
    assert.equal(item.id, deltas[0]!.item_id);
    assert.deepEqual(item.content, [{ type: "output_text", text, annotations: [], logprobs: [] }]);
    await assertBilledOnce(completed.response.id, completed.response.usage);
  });

  for (const stream of [false, true]) {
    it(`round-trips a function tool call (${stream ? "streaming" : "plain"})`, async () => {
      const ask = "Weather in Paris?";
      const first = stream
        ? await openai.responses.stream({ model: MODEL, input: ask, tools: [weatherTool] }).finalResponse()
        : await openai.responses.create({ model: MODEL, input: ask, tools: [weatherTool] });
      assert.equal(first.status, "completed");
      const output: OpenAI.Responses.ResponseOutputItem[] = first.output;
      const call = output.find(
        (item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === "function_call",
      );
      assert.ok(call, "the answer holds a function_call item");
      assert.equal(call.name, "get_weather");
      assert.deepEqual(JSON.parse(call.arguments), { city: ask });
      assert.ok(call.call_id.length > 0);
      await assertBilledOnce(first.id, first.usage);

      const second = await openai.responses.create({
        model: MODEL,
        tools: [weatherTool],
        input: [
          { role: "user", content: ask },
          ...output.map((item) => item as OpenAI.Responses.ResponseInputItem),
          { type: "function_call_output", call_id: call.call_id, output: "Sunny, 21 °C" },
        ],
      });
      assert.equal(second.output_text, "Mock provider received the tool result: Sunny, 21 °C");
      await assertBilledOnce(second.id, second.usage);
    });
  }

  it("streams a tool call as function_call_arguments deltas", async () => {
    const events: ResponseStreamEvent[] = [];
    const stream = await openai.responses.create({
      model: MODEL,
      input: "Weather in Lyon?",
      tools: [weatherTool],
      stream: true,
    });
    for await (const event of stream) events.push(event);
    const types = events.map((event) => event.type);
    assert.equal(types[2], "response.output_item.added");
    assert.ok(types.includes("response.function_call_arguments.delta"));
    const done = events.find((event) => event.type === "response.function_call_arguments.done");
    assert.ok(done);
    assert.equal(done.name, "get_weather");
    assert.deepEqual(JSON.parse(done.arguments), { city: "Weather in Lyon?" });
    assert.deepEqual(types.slice(-2), ["response.output_item.done", "response.completed"]);
  });

  it("ends a stream that fails after output with response.failed and an error event", async () => {
    const stream = await openai.responses.create({
      model: "mock-stream-error",
      input: "Fail midway",
      stream: true,
    });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const types = events.map((event) => event.type);
    assert.equal(types[0], "response.created");
    assert.ok(types.includes("response.output_text.delta"), "output went out before the failure");
    assert.deepEqual(types.slice(-2), ["response.failed", "error"]);
    assert.ok(!types.includes("response.completed"), "a cut stream never looks like a success");
    const error = events.at(-1) as OpenAI.Responses.ResponseErrorEvent;
    assert.ok(error.code?.startsWith("BL_"), `a stable code: ${error.code}`);
    const failed = events.at(-2) as OpenAI.Responses.ResponseFailedEvent;
    assert.equal(failed.response.status, "failed");
    assert.equal(failed.response.error?.code, error.code);
  });

  it("continues a response by previous_response_id on another gateway instance", async () => {
    const first = await openai.responses.create({
      model: MODEL,
      instructions: "Answer in French.",
      input: "My name is Ada.",
    });
    const followUp = await secondGateway.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: "What is my name?",
    });
    assert.equal(followUp.status, "completed");
    assert.equal(followUp.previous_response_id, first.id);
    assert.equal(followUp.instructions, null);
    assert.equal(followUp.output_text, "Mock provider reply to: What is my name?");
    // The model saw the earlier exchange read from the log, without the earlier instructions.
    assert.deepEqual((await acceptedOf(followUp.id)).request?.messages, [
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Mock provider reply to: My name is Ada." },
      { role: "user", content: "What is my name?" },
    ]);
    await assertBilledOnce(followUp.id, followUp.usage);
    assert.ok(followUp.usage!.input_tokens > first.usage!.input_tokens, "the earlier exchange was counted");
  });

  it("answers an unknown previous_response_id with a 404 in OpenAI's shape", async () => {
    await assert.rejects(
      openai.responses.create({ model: MODEL, previous_response_id: "resp_req_UNKNOWN", input: "hi" }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError);
        assert.equal(error.param, "previous_response_id");
        assert.equal(error.code, "BL_NOT_FOUND");
        assert.match(error.message, /resp_req_UNKNOWN/);
        return true;
      },
    );
  });

  it("does not let one tenant continue another tenant's response", async () => {
    const mine = await openai.responses.create({ model: MODEL, input: "A secret of the dev tenant" });
    const otherKey = await createTenantWithKey(beamline, "other-tenant");
    const other = new OpenAI({ apiKey: otherKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const unknown = await other.responses
      .create({ model: MODEL, previous_response_id: "resp_req_01NOTTHERE", input: "hi" })
      .catch((error: unknown) => error);
    const foreign = await other.responses
      .create({ model: MODEL, previous_response_id: mine.id, input: "What did they say?" })
      .catch((error: unknown) => error);
    assert.ok(foreign instanceof OpenAI.NotFoundError, "another tenant's id is not found");
    assert.ok(unknown instanceof OpenAI.NotFoundError);
    // Exactly the answer of an id that never existed: nothing tells the two apart.
    assert.equal(
      foreign.message.replace(mine.id, "ID"),
      unknown.message.replace("resp_req_01NOTTHERE", "ID"),
    );
  });

  it("answers 400 when the tenant's content policy keeps no content to continue from", async () => {
    const key = await createTenantWithKey(beamline, "hashes-tenant");
    const client = new OpenAI({ apiKey: key, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    await publishPolicy(beamline.store, "hashes-tenant", { content: { store: "hashes" } }, new Date());
    // The worker follows the policy through a KV watch: ask until an answer is stored as hashes.
    const deadline = Date.now() + 20_000;
    let earlier: OpenAI.Responses.Response;
    for (;;) {
      earlier = await client.responses.create({ model: MODEL, input: "Remember this" });
      const { terminal } = await requestEvidence(beamline.nc, "hashes-tenant", requestIdOf(earlier.id));
      if ((terminal.data as { atRest?: { mode: string } }).atRest?.mode === "hashes") break;
      assert.ok(Date.now() < deadline, "the worker to store content as hashes");
    }
    await assert.rejects(
      client.responses.create({ model: MODEL, previous_response_id: earlier.id, input: "What was it?" }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.param, "previous_response_id");
        assert.match(error.message, /content policy stores only hashes/);
        return true;
      },
    );
  });

  it("refuses input items it cannot translate with a 400 naming the item", async () => {
    await assert.rejects(
      openai.responses.create({
        model: MODEL,
        input: [{ type: "web_search_call", id: "ws_1", status: "completed" } as never],
      }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.param, "input.0");
        return true;
      },
    );
  });
});
