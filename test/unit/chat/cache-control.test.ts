/**
 * Anthropic prompt-caching breakpoints (`cache_control`) through the translations: the
 * Anthropic door → the canonical request → the Anthropic provider's request, where they stand
 * on the same blocks again; OpenAI-compatible and Gemini bodies never carry them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ChatRequest, withoutCacheControl } from "../../../src/chat/index.js";
import { parseMessagesRequest, toChatRequest } from "../../../src/gateway/messages-request.js";
import { toAnthropicRequest } from "../../../src/providers/anthropic/request.js";
import { toGeminiRequest } from "../../../src/providers/gemini/request.js";

const ephemeral = { type: "ephemeral" } as const;
const hourLong = { type: "ephemeral", ttl: "1h" } as const;

/** What an agent client sends: breakpoints on a system block, a tool, a tool result and the last text. */
const agentRequest = {
  model: "claude-haiku-4-5",
  max_tokens: 256,
  system: [
    { type: "text", text: "You are a coding agent." },
    { type: "text", text: "Project rules: be terse.", cache_control: hourLong },
  ],
  tools: [
    {
      name: "read_file",
      description: "Reads a file",
      input_schema: { type: "object", properties: { path: { type: "string" } } },
      cache_control: ephemeral,
    },
  ],
  messages: [
    { role: "user", content: [{ type: "text", text: "Open the readme." }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Reading it." },
        {
          type: "tool_use",
          id: "toolu_1",
          name: "read_file",
          input: { path: "README.md" },
          cache_control: ephemeral,
        },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_1", content: "# Beamline", cache_control: ephemeral },
        { type: "text", text: "Summarise it.", cache_control: ephemeral },
      ],
    },
  ],
  metadata: { user_id: "agent-user-7" },
};

function canonical(): ChatRequest {
  return toChatRequest(parseMessagesRequest(agentRequest));
}

describe("cache_control through the Anthropic door and the Anthropic provider", () => {
  it("rides on the canonical parts, tool call, tool message and tool the blocks become", () => {
    const chat = canonical();
    assert.deepEqual(chat.messages[0], {
      role: "system",
      content: [
        { type: "text", text: "You are a coding agent." },
        { type: "text", text: "Project rules: be terse.", cache_control: hourLong },
      ],
    });
    assert.deepEqual(chat.messages[1], { role: "user", content: "Open the readme." });
    assert.deepEqual(chat.messages[2]?.tool_calls?.[0]?.["cache_control"], ephemeral);
    assert.deepEqual(chat.messages[3], {
      role: "tool",
      tool_call_id: "toolu_1",
      content: "# Beamline",
      cache_control: ephemeral,
    });
    assert.deepEqual(chat.messages[4], {
      role: "user",
      content: [{ type: "text", text: "Summarise it.", cache_control: ephemeral }],
    });
    assert.deepEqual(chat.tools?.[0]?.["cache_control"], ephemeral);
    assert.equal(chat.user, "agent-user-7");
  });

  it("stands on the same blocks in the request sent to an Anthropic-wire provider", () => {
    const body = toAnthropicRequest(canonical(), "claude-haiku-4-5", false);
    assert.deepEqual(body.system, agentRequest.system);
    assert.deepEqual(body.tools, agentRequest.tools);
    assert.deepEqual(body.messages, [
      { role: "user", content: "Open the readme." },
      agentRequest.messages[1],
      agentRequest.messages[2],
    ]);
    assert.deepEqual(body.metadata, { user_id: "agent-user-7" });
  });

  it("keeps a plain request as it was: system as one string, single text turns as strings", () => {
    const plain = {
      ...agentRequest,
      system: [
        { type: "text", text: "A." },
        { type: "text", text: "B." },
      ],
      tools: undefined,
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
    };
    const chat = toChatRequest(parseMessagesRequest(plain));
    assert.deepEqual(chat.messages[0], { role: "system", content: "A.\n\nB." });
    const body = toAnthropicRequest(chat, "claude-haiku-4-5", false);
    assert.equal(body.system, "A.\n\nB.");
    assert.deepEqual(body.messages, [{ role: "user", content: "Hi" }]);
  });

  it("keeps a breakpoint on an image block and on an assistant text block", () => {
    const image = { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" };
    const chat = toChatRequest(
      parseMessagesRequest({
        model: "m",
        max_tokens: 8,
        messages: [
          { role: "user", content: [{ type: "image", source: image, cache_control: ephemeral }] },
          { role: "assistant", content: [{ type: "text", text: "A picture.", cache_control: ephemeral }] },
          { role: "user", content: "Thanks" },
        ],
      }),
    );
    const body = toAnthropicRequest(chat, "m", false);
    assert.deepEqual(body.messages[0], {
      role: "user",
      content: [{ type: "image", source: image, cache_control: ephemeral }],
    });
    assert.deepEqual(body.messages[1], {
      role: "assistant",
      content: [{ type: "text", text: "A picture.", cache_control: ephemeral }],
    });
  });
});

describe("cache_control on providers without prompt caching by breakpoint", () => {
  it("is stripped from the OpenAI-compatible body, everything else kept", () => {
    const chat = canonical();
    const stripped = withoutCacheControl(chat);
    assert.doesNotMatch(JSON.stringify(stripped), /cache_control/);
    assert.deepEqual(stripped.messages[3], { role: "tool", tool_call_id: "toolu_1", content: "# Beamline" });
    assert.deepEqual(stripped.messages[0]?.content, [
      { type: "text", text: "You are a coding agent." },
      { type: "text", text: "Project rules: be terse." },
    ]);
    assert.equal(stripped.tools?.length, 1);
    assert.match(JSON.stringify(chat), /cache_control/, "the canonical request itself is left as it was");
  });

  it("never reaches a Gemini body", () => {
    const body = toGeminiRequest(canonical());
    assert.doesNotMatch(JSON.stringify(body), /cache_control/);
    assert.equal(body.systemInstruction?.parts.length, 1);
  });
});
