import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { ChatRequest } from "../../src/chat/wire.js";
import {
  createNatsExtensionCaller,
  createResponseProcessor,
  type ExtensionRegistryView,
  extensionSubject,
  type PipelineContext,
  pipelineSchema,
  registerExtension,
  runRequestStages,
  unregisterExtension,
  watchExtensionRegistry,
} from "../../src/extensions/index.js";
import { KvBuckets } from "../../src/nats/names.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const EXAMPLE = "examples/extension-competitor-mention.ts";

/** Starts the example extension as its own process and waits for its ready line. */
async function startExample(natsUrl: string, version: "v1" | "v2"): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", EXAMPLE], {
    cwd: repoRoot,
    env: { ...process.env, NATS_URL: natsUrl, EXTENSION_VERSION: version },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr?.on("data", (data: Buffer) => {
    output += data.toString();
  });
  await waitFor(() => output.includes(`competitor-mention/${version} ready`), {
    what: `the example extension ${version} to print its ready line (output so far: ${output})`,
    timeoutMs: 30_000,
  });
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

const ask = (content: string): ChatRequest => ({
  model: "mock-small",
  messages: [{ role: "user", content }],
});

describe("external extensions over NATS", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let registry: ExtensionRegistryView;
  const children: ChildProcess[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await new Kvm(nc).create(KvBuckets.extensions, { history: 5 });
    registry = await watchExtensionRegistry(nc);
    await registry.ready;
    children.push(await startExample(server.url, "v1"), await startExample(server.url, "v2"));
    const kv = await new Kvm(nc).open(KvBuckets.extensions);
    await registerExtension(kv, {
      name: "competitor-mention",
      version: "v1",
      stages: ["validate", "post"],
      contract: 1,
    });
    await registerExtension(kv, {
      name: "competitor-mention",
      version: "v2",
      stages: ["pre", "post"],
      contract: 1,
    });
    await waitFor(() => registry.resolve("competitor-mention", "v2"), {
      what: "the registry watch to see v2",
    });
  });

  after(async () => {
    registry?.stop();
    await Promise.all(children.map(stopProcess));
    await nc?.close();
    await server?.stop();
  });

  const context = (tenant: string, requestId: string): PipelineContext => ({
    tenant,
    requestId,
    resolver: registry,
    external: createNatsExtensionCaller(nc),
  });

  it("pins versions per tenant: two tenants on v1 and v2 of the same extension at once", async () => {
    const settings = { competitors: ["Acme"] };
    const strict = pipelineSchema.parse({
      validate: [{ name: "competitor-mention", version: "v1", settings }],
    });
    const rewriting = pipelineSchema.parse({
      pre: [{ name: "competitor-mention", version: "v2", settings }],
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? runRequestStages(strict, ask("Is Acme better?"), context("tenant-a", `req_a${i}`))
          : runRequestStages(rewriting, ask("Is Acme better?"), context("tenant-b", `req_b${i}`)),
      ),
    );
    results.forEach((result, i) => {
      if (i % 2 === 0) {
        assert.ok(result.kind === "reject", `tenant-a request ${i} was not rejected`);
        assert.equal(result.error.code, "BL_EXTENSION_REJECTED");
        assert.match(result.error.message, /competitor-mention\/v1/);
      } else {
        assert.ok(result.kind === "continue", `tenant-b request ${i} was rejected`);
        assert.equal(result.request.messages[0]?.content, "Is another vendor better?");
        assert.equal(result.outcomes[0]?.summary, "replaced 1 competitor mention(s)");
        assert.equal(result.outcomes[0]?.kind, "external");
      }
    });
  });

  it("post-processes a completion through an external step", async () => {
    const pipeline = pipelineSchema.parse({
      post: [{ name: "competitor-mention", version: "v2", settings: { competitors: ["Acme"] } }],
    });
    const result = await createResponseProcessor(pipeline, context("tenant-b", "req_post")).processCompletion(
      {
        id: "c",
        object: "chat.completion",
        created: 1,
        model: "mock-small",
        choices: [
          { index: 0, message: { role: "assistant", content: "Acme is fine." }, finish_reason: "stop" },
        ],
      },
    );
    assert.ok(result.kind === "continue");
    assert.equal(result.completion.choices[0]?.message.content, "another vendor is fine.");
  });

  it("on a timeout, fail-open continues and fail-closed rejects with BL_EXTENSION_TIMEOUT", async () => {
    // A service that receives calls and never answers.
    const stalled = nc.subscribe(extensionSubject("stall", "v1"), { callback: () => undefined });
    await registerExtension(await new Kvm(nc).open(KvBuckets.extensions), {
      name: "stall",
      version: "v1",
      stages: ["pre"],
      contract: 1,
    });
    await waitFor(() => registry.resolve("stall", "v1"), { what: "the registry watch to see stall/v1" });
    const step = { name: "stall", version: "v1", timeoutMs: 100 };
    const open = await runRequestStages(
      pipelineSchema.parse({
        pre: [
          { ...step, failureMode: "fail-open" },
          { name: "pii", version: "v1" },
        ],
      }),
      ask("mail a@example.com"),
      context("tenant-a", "req_open"),
    );
    assert.ok(open.kind === "continue");
    assert.equal(open.outcomes[0]?.error?.code, "BL_EXTENSION_TIMEOUT");
    assert.ok((open.outcomes[0]?.durationMs ?? 0) >= 90, "waited for the timeout");
    assert.equal(open.request.messages[0]?.content, "mail [EMAIL]");
    const closed = await runRequestStages(
      pipelineSchema.parse({ pre: [{ ...step, failureMode: "fail-closed" }] }),
      ask("hi"),
      context("tenant-a", "req_closed"),
    );
    assert.ok(closed.kind === "reject");
    assert.equal(closed.error.code, "BL_EXTENSION_TIMEOUT");
    stalled.unsubscribe();
  });

  it("applies removal and re-registration live while requests flow, without losing a request", async () => {
    const kv = await new Kvm(nc).open(KvBuckets.extensions);
    const pipeline = pipelineSchema.parse({
      pre: [
        {
          name: "competitor-mention",
          version: "v2",
          failureMode: "fail-open",
          settings: { competitors: ["Acme"] },
        },
      ],
    });
    const seen: string[] = [];
    let phase: "before" | "removed" | "restored" = "before";
    let stop = false;
    let sent = 0;
    const traffic = (async () => {
      while (!stop) {
        sent += 1;
        const result = await runRequestStages(pipeline, ask("Acme?"), context("tenant-b", `req_live${sent}`));
        assert.equal(result.kind, "continue");
        const content = result.kind === "continue" ? result.request.messages[0]?.content : "";
        seen.push(
          `${phase}:${content === "another vendor?" ? "modified" : (result.outcomes[0]?.error?.code ?? "?")}`,
        );
        // A step of an unregistered extension does no I/O: let the registry watch run.
        await nextTurn();
      }
    })();
    try {
      await waitFor(() => seen.some((s) => s === "before:modified"), { what: "traffic through v2" });
      phase = "removed";
      await unregisterExtension(kv, "competitor-mention", "v2");
      await waitFor(() => seen.includes("removed:BL_EXTENSION_UNAVAILABLE"), {
        what: "a request to see v2 unregistered",
      });
      phase = "restored";
      await registerExtension(kv, {
        name: "competitor-mention",
        version: "v2",
        stages: ["pre", "post"],
        contract: 1,
      });
      await waitFor(() => seen.includes("restored:modified"), { what: "a request through v2 again" });
    } finally {
      stop = true;
      await traffic;
    }
    assert.equal(seen.length, sent, "every request got an answer");
    assert.ok(
      seen.every((s) => s.endsWith(":modified") || s.endsWith(":BL_EXTENSION_UNAVAILABLE")),
      seen.join(","),
    );
  });

  it("reports BL_EXTENSION_UNAVAILABLE when a registered extension has no running instance", async () => {
    await stopProcess(children[0] as ChildProcess);
    const result = await runRequestStages(
      pipelineSchema.parse({ validate: [{ name: "competitor-mention", version: "v1", timeoutMs: 2_000 }] }),
      ask("hi"),
      context("tenant-a", "req_gone"),
    );
    assert.ok(result.kind === "reject");
    assert.equal(result.error.code, "BL_EXTENSION_UNAVAILABLE");
  });
});
