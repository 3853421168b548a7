/**
 * Anthropic prompt caching through Beamline (issue 15, item 3): what the official
 * `@anthropic-ai/sdk` marks with `cache_control` reaches an Anthropic-wire provider on the same
 * blocks, with `metadata.user_id`, plain and streamed; an OpenAI-wire provider gets the same
 * request without the breakpoints. Both providers are one mock over real HTTP, which shows the
 * test every chat body it received.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { type MockChatPath, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";

const PROVIDER_KEY = "sk-e2e-cache-control-provider-key-0123";
const MODELS = [
  { id: "claude-haiku-4-5", provider: "anthropic", upstreamModel: "claude-haiku-4-5" },
  { id: "gpt-over-wire", provider: "openai", upstreamModel: "mock-small" },
] as const;

const ephemeral = { type: "ephemeral" } as const;

/** An agent client's request: breakpoints after the system prompt, the tools and the last turn. */
function agentRequest(model: string, marker: string) {
  return {
    model,
    max_tokens: 128,
    system: [
      { type: "text" as const, text: "You are a coding agent working in a repository." },
      { type: "text" as const, text: "Rules of the project: answer tersely.", cache_control: ephemeral },
    ],
    tools: [
      {
        name: "read_file",
        description: "Reads a file of the repository",
        input_schema: { type: "object" as const, properties: { path: { type: "string" } } },
        cache_control: ephemeral,
      },
    ],
    tool_choice: { type: "none" as const },
    messages: [
      {
        role: "user" as const,
        content: [
          { type: "text" as const, text: `Summarise the readme (${marker}).`, cache_control: ephemeral },
        ],
      },
    ],
    metadata: { user_id: "agent-user-42" },
  };
}

describe("Anthropic prompt caching through Beamline", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let wire: MockProvider;
  let catalog: TestCatalogFile;
  let anthropic: Anthropic;
  const received: Array<{ path: MockChatPath; body: Record<string, unknown> }> = [];

  /** The one body the mock received on `path` whose text holds `marker`. */
  function receivedWith(path: MockChatPath, marker: string): Record<string, unknown> {
    const bodies = received.filter(
      (seen) => seen.path === path && JSON.stringify(seen.body).includes(marker),
    );
    assert.equal(bodies.length, 1, `one ${path} request carrying ${marker}, saw ${bodies.length}`);
    return bodies[0]!.body;
  }

  before(async () => {
    wire = await startMockProvider({
      apiKey: PROVIDER_KEY,
      onRequestBody: (path, body) => received.push({ path, body }),
    });
    catalog = await writeTestCatalog("e2e-cache-control.1", [...MODELS]);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      anthropic: { apiKey: PROVIDER_KEY, baseUrl: wire.url },
      openai: { apiKey: PROVIDER_KEY, baseUrl: wire.url },
    });
    anthropic = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
  });
  after(async () => {
    await beamline?.stop();
    await wire?.close();
    await catalog?.remove();
  });

  for (const streamed of [false, true]) {
    const how = streamed ? "streamed" : "plain";
    it(`sends cache_control and metadata.user_id on to an Anthropic-wire provider, ${how}`, async () => {
      const marker = `anthropic-${how}`;
      const request = agentRequest("claude-haiku-4-5", marker);
      const answer = streamed
        ? await anthropic.messages.stream(request).finalMessage()
        : await anthropic.messages.create(request);
      assert.equal(answer.content.at(-1)?.type, "text");

      const body = receivedWith("/v1/messages", marker);
      assert.deepEqual(body["system"], request.system);
      assert.deepEqual(body["tools"], request.tools);
      assert.deepEqual(body["messages"], request.messages);
      assert.deepEqual(body["metadata"], request.metadata);
    });
  }

  it("sends the same request to an OpenAI-wire provider without the breakpoints", async () => {
    const marker = "openai-plain";
    const answer = await anthropic.messages.create(agentRequest("gpt-over-wire", marker));
    assert.equal(answer.content.at(-1)?.type, "text");

    const body = receivedWith("/v1/chat/completions", marker);
    assert.doesNotMatch(JSON.stringify(body), /cache_control/);
    assert.equal(body["user"], "agent-user-42");
    assert.equal((body["tools"] as unknown[]).length, 1);
  });
});
