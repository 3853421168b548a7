import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from "../../src/chat/wire.js";
import { BeamlineError } from "../../src/errors/index.js";
import { EventTypes } from "../../src/events/index.js";
import {
  createResponseProcessor,
  type ExtensionCall,
  type ExtensionRegistration,
  type ExternalExtensionCaller,
  extensionAppliedEvents,
  type PipelineContext,
  pipelineSchema,
  runRequestStages,
  staticResolver,
} from "../../src/extensions/index.js";
import { registrationKey, resolverOver } from "../../src/extensions/registry.js";

const request: ChatRequest = {
  model: "mock-small",
  messages: [{ role: "user", content: "mail me at bob@example.com" }],
};

/** An external caller that runs handlers in-process and records the order of calls. */
function fakeCaller(
  handlers: Record<string, (call: ExtensionCall) => unknown>,
  log: string[],
): ExternalExtensionCaller {
  return {
    async call(name, version, call) {
      log.push(`${name}/${version}:${call.stage}`);
      const handler = handlers[`${name}/${version}`];
      if (handler === undefined) throw new BeamlineError("BL_EXTENSION_UNAVAILABLE", `no ${name}/${version}`);
      return handler(call) as Awaited<ReturnType<ExternalExtensionCaller["call"]>>;
    },
  };
}

const registered = (
  name: string,
  version: string,
  stages: ExtensionRegistration["stages"],
): ExtensionRegistration => ({
  name,
  version,
  stages,
  contract: 1,
});

function ctx(
  external: ExternalExtensionCaller,
  registrations: ExtensionRegistration[] = [],
): PipelineContext {
  let t = 0;
  return {
    tenant: "acme",
    requestId: "req_1",
    resolver: staticResolver(registrations),
    external,
    now: () => (t += 1),
  };
}

describe("runRequestStages", () => {
  it("runs pre steps then validate steps in order, each on the previous step's output", async () => {
    const log: string[] = [];
    const caller = fakeCaller(
      {
        "tag/v1": (call) => ({
          contract: 1,
          verdict: "modify",
          request: {
            ...call.request,
            messages: [...(call.request?.messages ?? []), { role: "system", content: "tagged" }],
          },
          summary: "added a system message",
        }),
        "check/v1": (call) => {
          // The validator sees the masked text and the message added by the pre step.
          const texts = JSON.stringify(call.request?.messages);
          return {
            contract: 1,
            verdict: texts.includes("[EMAIL]") && texts.includes("tagged") ? "allow" : "reject",
          };
        },
      },
      log,
    );
    const pipeline = pipelineSchema.parse({
      pre: [
        { name: "pii", version: "v1" },
        { name: "tag", version: "v1" },
      ],
      validate: [{ name: "check", version: "v1" }],
    });
    const result = await runRequestStages(
      pipeline,
      request,
      ctx(caller, [registered("tag", "v1", ["pre"]), registered("check", "v1", ["validate"])]),
    );
    assert.equal(result.kind, "continue");
    assert.deepEqual(log, ["tag/v1:pre", "check/v1:validate"]);
    assert.deepEqual(
      result.outcomes.map((o) => `${o.stage}.${o.index} ${o.name} ${o.verdict}`),
      ["pre.0 pii modify", "pre.1 tag modify", "validate.0 check allow"],
    );
    assert.ok(result.kind === "continue" && result.request.messages.length === 2);
    assert.equal(request.messages[0]?.content, "mail me at bob@example.com", "the input is not mutated");
  });

  it("stops at a rejecting step, names it in a BL_EXTENSION_REJECTED error, and runs nothing after it", async () => {
    const log: string[] = [];
    const caller = fakeCaller({ "later/v1": () => ({ contract: 1, verdict: "allow" }) }, log);
    const pipeline = pipelineSchema.parse({
      validate: [
        { name: "normalize", version: "v1", settings: { allowedModels: ["other"] } },
        { name: "later", version: "v1" },
      ],
    });
    const result = await runRequestStages(
      pipeline,
      request,
      ctx(caller, [registered("later", "v1", ["validate"])]),
    );
    assert.ok(result.kind === "reject");
    assert.equal(result.error.code, "BL_EXTENSION_REJECTED");
    assert.equal(result.error.httpStatus, 400);
    assert.deepEqual(result.error.extension, {
      name: "normalize",
      version: "v1",
      stage: "validate",
      index: 0,
    });
    assert.match(result.error.message, /normalize\/v1/);
    assert.deepEqual(log, []);
    assert.equal(result.outcomes.length, 1);
  });

  for (const failureMode of ["fail-open", "fail-closed"] as const) {
    it(`on a timeout, ${failureMode} ${failureMode === "fail-open" ? "continues and records it" : "rejects with BL_EXTENSION_TIMEOUT"}`, async () => {
      const caller = fakeCaller(
        {
          "slow/v1": () => {
            throw new BeamlineError("BL_EXTENSION_TIMEOUT", "extension slow/v1 did not answer within 50 ms");
          },
        },
        [],
      );
      const pipeline = pipelineSchema.parse({
        pre: [
          { name: "slow", version: "v1", timeoutMs: 50, failureMode },
          { name: "pii", version: "v1" },
        ],
      });
      const result = await runRequestStages(
        pipeline,
        request,
        ctx(caller, [registered("slow", "v1", ["pre"])]),
      );
      const first = result.outcomes[0];
      assert.equal(first?.verdict, "error");
      assert.equal(first?.error?.code, "BL_EXTENSION_TIMEOUT");
      if (failureMode === "fail-open") {
        assert.equal(result.kind, "continue");
        assert.equal(result.outcomes[1]?.verdict, "modify", "the next step still ran");
      } else {
        assert.ok(result.kind === "reject");
        assert.equal(result.error.code, "BL_EXTENSION_TIMEOUT");
        assert.equal(result.error.httpStatus, 504);
        assert.equal(result.outcomes.length, 1);
      }
    });
  }

  it("applies registry changes to the next request: unregistered → failure mode, registered → runs", async () => {
    const registrations = new Map<string, ExtensionRegistration>();
    const log: string[] = [];
    const context: PipelineContext = {
      tenant: "acme",
      requestId: "req_2",
      resolver: resolverOver(() => registrations),
      external: fakeCaller({ "enrich/v2": () => ({ contract: 1, verdict: "allow" }) }, log),
    };
    const pipeline = pipelineSchema.parse({ pre: [{ name: "enrich", version: "v2" }] });
    const before = await runRequestStages(pipeline, request, context);
    assert.ok(before.kind === "reject");
    assert.equal(before.error.code, "BL_EXTENSION_UNAVAILABLE");
    assert.equal(before.outcomes[0]?.kind, "unresolved");

    registrations.set(registrationKey("enrich", "v2"), registered("enrich", "v2", ["pre"]));
    assert.equal((await runRequestStages(pipeline, request, context)).kind, "continue");
    assert.deepEqual(log, ["enrich/v2:pre"]);
  });

  it("treats invalid built-in settings as the step failing, and an external step in a stage it is not registered for", async () => {
    const pipeline = pipelineSchema.parse({
      pre: [
        { name: "pii", version: "v1", settings: { style: "sparkly" }, failureMode: "fail-open" },
        { name: "tag", version: "v1", failureMode: "fail-closed" },
      ],
    });
    const result = await runRequestStages(
      pipeline,
      request,
      ctx(fakeCaller({}, []), [registered("tag", "v1", ["post"])]),
    );
    assert.equal(result.outcomes[0]?.error?.code, "BL_EXTENSION_FAILED");
    assert.ok(result.kind === "reject");
    assert.equal(result.error.code, "BL_EXTENSION_FAILED");
    assert.match(result.error.message, /not registered for the pre stage/);
  });
});

const chunk = (
  index: number,
  content: string | undefined,
  finish: string | null = null,
): ChatCompletionChunk => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "mock-small",
  choices: [{ index, delta: content === undefined ? {} : { content }, finish_reason: finish }],
});

function contentOf(chunks: ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices.map((choice) => choice.delta.content ?? "").join("")).join("");
}

describe("createResponseProcessor", () => {
  const secretText = "Here: sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345 and mail bob@example.com, bye.";

  it("masks a streamed response whatever the chunking, and records a streamed outcome", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: secretText.length }), { maxLength: 10 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const processor = createResponseProcessor(
          pipelineSchema.parse({ post: [{ name: "pii", version: "v1" }] }),
          ctx(fakeCaller({}, [])),
        );
        const sent: ChatCompletionChunk[] = [];
        let at = 0;
        for (const point of [...points, secretText.length]) {
          const result = processor.transformChunk(chunk(0, secretText.slice(at, point)));
          assert.equal(result.rejection, undefined);
          sent.push(...result.chunks);
          at = point;
        }
        sent.push(...processor.transformChunk(chunk(0, undefined, "stop")).chunks);
        sent.push(...processor.endStream().chunks);
        assert.equal(contentOf(sent), "Here: [SECRET] and mail [EMAIL], bye.");
        assert.equal(sent.at(-1)?.choices[0]?.finish_reason, "stop");
      }),
      { numRuns: 100 },
    );
  });

  it("runs whole-text steps at the end of a stream and reports outcomes in step order", async () => {
    const log: string[] = [];
    const caller = fakeCaller(
      { "audit/v1": () => ({ contract: 1, verdict: "allow", summary: "looked" }) },
      log,
    );
    const pipeline = pipelineSchema.parse({
      post: [
        { name: "audit", version: "v1" },
        { name: "limit", version: "v1", settings: { maxChars: 8 } },
        { name: "pii", version: "v1" },
      ],
    });
    const processor = createResponseProcessor(pipeline, ctx(caller, [registered("audit", "v1", ["post"])]));
    const sent = [
      ...processor.transformChunk(chunk(0, "call 415-")).chunks,
      ...processor.transformChunk(chunk(0, "555-0132 now")).chunks,
      ...processor.transformChunk(chunk(0, "", "stop")).chunks,
      ...processor.endStream().chunks,
    ];
    assert.equal(contentOf(sent), "call 415");
    assert.equal(sent.at(-1)?.choices[0]?.finish_reason, "length");
    const assembled: ChatCompletion = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1,
      model: "mock-small",
      choices: [
        { index: 0, message: { role: "assistant", content: contentOf(sent) }, finish_reason: "length" },
      ],
    };
    const result = await processor.completeStream(assembled);
    assert.equal(result.kind, "continue");
    assert.deepEqual(
      result.outcomes.map((o) => `${o.index} ${o.name} ${o.verdict} ${o.streamed === true}`),
      ["0 audit allow false", "1 limit modify true", "2 pii allow true"],
    );
    assert.deepEqual(log, ["audit/v1:post"]);
  });

  it("rejects a stream over the limit in reject mode, before sending the excess", () => {
    const processor = createResponseProcessor(
      pipelineSchema.parse({
        post: [{ name: "limit", version: "v1", settings: { maxChars: 5, action: "reject" } }],
      }),
      ctx(fakeCaller({}, [])),
    );
    assert.equal(contentOf(processor.transformChunk(chunk(0, "abc")).chunks), "abc");
    const over = processor.transformChunk(chunk(0, "defg"));
    assert.deepEqual(over.chunks, []);
    assert.equal(over.rejection?.error.code, "BL_EXTENSION_REJECTED");
    assert.equal(over.rejection?.outcomes[0]?.verdict, "reject");
  });

  it("post-processes a whole completion through every step in order", async () => {
    const processor = createResponseProcessor(
      pipelineSchema.parse({ post: [{ name: "pii", version: "v1", settings: { style: "partial" } }] }),
      ctx(fakeCaller({}, [])),
    );
    const result = await processor.processCompletion({
      id: "c",
      object: "chat.completion",
      created: 1,
      model: "m",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "card 4111 1111 1111 1111" },
          finish_reason: "stop",
        },
      ],
    });
    assert.ok(result.kind === "continue");
    assert.equal(result.completion.choices[0]?.message.content, "card **** **** **** 1111");
  });
});

describe("extensionAppliedEvents", () => {
  it("gives each outcome a deterministic id and slot, valid against the registered schema, without the text", async () => {
    const result = await runRequestStages(
      pipelineSchema.parse({ pre: [{ name: "pii", version: "v1" }] }),
      request,
      ctx(fakeCaller({}, [])),
    );
    const writes = extensionAppliedEvents(
      result.outcomes,
      { tenant: "acme", requestId: "req_1", correlationId: "req_1", causationId: "req_1:accepted" },
      new Date("2026-11-27T05:00:00Z"),
    );
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.subject, "bl.req.acme.req_1.ext.pre.0");
    assert.equal(writes[0]?.event.id, "req_1:ext.pre.0");
    EventTypes["extension.applied"].schema.parse(writes[0]?.event.data);
    assert.deepEqual(writes[0]?.event.data.changes, { "masked.email": 1 });
    assert.ok(!JSON.stringify(writes).includes("bob@example.com"));
  });
});
