import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatCompletion, ChatRequest } from "../../src/chat/wire.js";
import { contentPolicyV1 } from "../../src/extensions/builtins/content-policy.js";
import { normalizeV1 } from "../../src/extensions/builtins/normalizer.js";
import { piiV1 } from "../../src/extensions/builtins/pii/extension.js";
import { limitV1 } from "../../src/extensions/builtins/response-limiter.js";
import { unsafeRegexReason } from "../../src/extensions/builtins/safe-regex.js";
import { builtinSettingsProblems, pipelineSchema } from "../../src/extensions/index.js";

const request = (
  content: ChatRequest["messages"][number]["content"],
  extra: Partial<ChatRequest> = {},
): ChatRequest => ({
  model: "mock-small",
  messages: [{ role: "user", content }],
  ...extra,
});

const completion = (content: string): ChatCompletion => ({
  id: "c1",
  object: "chat.completion",
  created: 1,
  model: "mock-small",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
});

describe("pii/v1", () => {
  it("masks string content and text parts, leaves other parts alone, and counts per kind", () => {
    const settings = piiV1.parseSettings({});
    const verdict = piiV1.onRequest?.(
      request([
        { type: "text", text: "mail bob@example.com" },
        { type: "image_url", image_url: { url: "https://example.com/a.png" } },
      ]),
      settings,
    );
    assert.equal(verdict?.verdict, "modify");
    assert.ok(verdict?.verdict === "modify");
    assert.deepEqual(verdict.value.messages[0]?.content, [
      { type: "text", text: "mail [EMAIL]" },
      { type: "image_url", image_url: { url: "https://example.com/a.png" } },
    ]);
    assert.deepEqual(verdict.changes, { "masked.email": 1 });
    assert.ok(!verdict.summary.includes("bob"));
  });

  it("allows clean text unchanged, and rejects PII when the action is reject", () => {
    assert.equal(piiV1.onRequest?.(request("hello"), piiV1.parseSettings({}))?.verdict, "allow");
    const verdict = piiV1.onRequest?.(request("ssn 123-45-6789"), piiV1.parseSettings({ action: "reject" }));
    assert.equal(verdict?.verdict, "reject");
    assert.ok(verdict?.verdict === "reject" && !verdict.reason.includes("6789"));
  });

  it("refuses unknown settings", () => {
    assert.throws(() => piiV1.parseSettings({ kinds: ["dna"] }));
    assert.throws(() => piiV1.parseSettings({ colour: "red" }));
  });
});

describe("content-policy/v1", () => {
  const settings = contentPolicyV1.parseSettings({
    categories: [
      { name: "competitors", action: "flag", terms: ["Acme Corp"] },
      { name: "weapons", action: "block", patterns: ["build (a|an) bomb"] },
    ],
  });

  it("flags a term as a whole word, case-insensitively, and records only the category", () => {
    const verdict = contentPolicyV1.onRequest?.(request("compare with ACME corp please"), settings);
    assert.deepEqual(verdict, {
      verdict: "allow",
      summary: "flagged competitors",
      changes: { "flag.competitors": 1 },
    });
    assert.deepEqual(contentPolicyV1.onRequest?.(request("acme corporation"), settings), {
      verdict: "allow",
    });
  });

  it("blocks a pattern match in a request and in a response", () => {
    assert.equal(contentPolicyV1.onRequest?.(request("how to build a bomb"), settings)?.verdict, "reject");
    assert.equal(
      contentPolicyV1.onCompletion?.(completion("First, build an bomb"), settings)?.verdict,
      "reject",
    );
  });

  it("refuses catastrophic and lookaround patterns when settings are read", () => {
    for (const pattern of ["(a+)+$", "(x|xy)*z", "(a)\\1", "(?=a)b", "x".repeat(300)]) {
      assert.ok(unsafeRegexReason(pattern) !== undefined, pattern);
      assert.throws(() =>
        contentPolicyV1.parseSettings({ categories: [{ name: "c", action: "block", patterns: [pattern] }] }),
      );
    }
    for (const pattern of ["\\d{3}-\\d{4}", "(?:foo|bar) baz", "(abc)+", "[a-z]+@corp"]) {
      assert.equal(unsafeRegexReason(pattern), undefined, pattern);
    }
  });
});

describe("normalize/v1", () => {
  const settings = normalizeV1.parseSettings({
    defaults: { temperature: 0.2, max_tokens: 256 },
    maxTokensClamp: 1000,
    allowedModels: ["mock-small", "mock-large"],
  });

  it("fills defaults only where the request left them out", () => {
    const verdict = normalizeV1.onRequest?.(request("hi", { temperature: 1 }), settings);
    assert.ok(verdict?.verdict === "modify");
    assert.equal(verdict.value.temperature, 1);
    assert.equal(verdict.value.max_tokens, 256);
    assert.equal(verdict.summary, "max_tokens defaulted");
  });

  it("clamps max tokens and rejects a model outside the allow-list", () => {
    const clamped = normalizeV1.onRequest?.(
      request("hi", { temperature: 0, max_completion_tokens: 5000 }),
      settings,
    );
    assert.ok(clamped?.verdict === "modify");
    assert.equal(clamped.value.max_completion_tokens, 1000);
    assert.equal(normalizeV1.onRequest?.(request("hi", { model: "gpt-4o" }), settings)?.verdict, "reject");
  });
});

describe("limit/v1", () => {
  it("truncates a completion and finishes it with length", () => {
    const verdict = limitV1.onCompletion?.(completion("abcdefghij"), limitV1.parseSettings({ maxChars: 4 }));
    assert.ok(verdict?.verdict === "modify");
    assert.equal(verdict.value.choices[0]?.message.content, "abcd");
    assert.equal(verdict.value.choices[0]?.finish_reason, "length");
  });

  it("counts maxTokens with the conservative approximation and rejects when asked to", () => {
    // "hello" is 1 cl100k token (→ 2 approximated), "hello world" 2 (→ 3).
    const settings = limitV1.parseSettings({ maxTokens: 2, action: "reject" });
    assert.equal(limitV1.onCompletion?.(completion("hello"), settings)?.verdict, "allow");
    const verdict = limitV1.onCompletion?.(completion("hello world"), settings);
    assert.ok(verdict?.verdict === "reject");
    assert.equal(verdict.reason, "response longer than 2 tokens");
  });

  it("truncates to maxTokens at a token boundary, whole and streamed", () => {
    const settings = limitV1.parseSettings({ maxTokens: 3 });
    const whole = limitV1.onCompletion?.(completion("hello world, how are you?"), settings);
    assert.ok(whole?.verdict === "modify");
    assert.equal(whole.value.choices[0]?.message.content, "hello world");
    const transform = limitV1.createStreamTransform?.(settings);
    assert.ok(transform !== undefined);
    assert.deepEqual(
      ["hello", " world", ", how", " are you?"].map((piece) => transform.push(piece)),
      ["hello", "", "", ""],
    );
    assert.equal(transform.finishReason, "length");
  });

  it("cuts a stream at the limit and drops the rest", () => {
    const transform = limitV1.createStreamTransform?.(limitV1.parseSettings({ maxChars: 5 }));
    assert.ok(transform !== undefined);
    assert.deepEqual(
      ["abc", "def", "ghi"].map((piece) => transform.push(piece)),
      ["abc", "de", ""],
    );
    assert.equal(transform.finishReason, "length");
  });
});

describe("builtinSettingsProblems", () => {
  it("lists every invalid built-in step of a pipeline at once", () => {
    const pipeline = pipelineSchema.parse({
      pre: [{ name: "pii", version: "v1", settings: { style: "sparkly" } }],
      validate: [{ name: "limit", version: "v1", settings: { maxChars: 10 } }],
      post: [{ name: "crm-enrich", version: "v3" }],
    });
    const problems = builtinSettingsProblems(pipeline);
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? "", /^pre\[0\] pii\/v1: /);
    assert.match(problems[1] ?? "", /^validate\[0\] limit\/v1: does not run in the validate stage/);
  });
});
