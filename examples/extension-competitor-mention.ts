/**
 * An external Beamline extension, run as its own process: `competitor-mention`.
 *
 *   NATS_URL=nats://127.0.0.1:4222 EXTENSION_VERSION=v1 node --import tsx examples/extension-competitor-mention.ts
 *
 * - v1 is a validator: it rejects a request (or response) that names a competitor.
 * - v2 is a pre/post-processor: it replaces each competitor name with "another vendor".
 * Both read the tenant's list from the step's settings: `{ "competitors": ["Acme", ...] }`.
 *
 * It answers calls on `bl.ext.competitor-mention.<version>` in the queue group
 * `competitor-mention-<version>`, so any number of instances share the load. With
 * REGISTER=1 it also registers itself in the `bl_extensions` KV bucket (configuration only:
 * an operator may equally do it with `registerExtension` or any KV client).
 */
import { connect } from "@nats-io/transport-node";
import { z } from "zod";
import {
  EXTENSION_CONTRACT_VERSION,
  type ExtensionReply,
  extensionCallSchema,
  extensionQueueGroup,
  extensionSubject,
} from "../src/extensions/contract.js";
import { openExtensionRegistry, registerExtension } from "../src/extensions/registry-kv.js";

const NAME = "competitor-mention";
const version = z.enum(["v1", "v2"]).parse(process.env["EXTENSION_VERSION"] ?? "v1");
const settingsSchema = z.object({ competitors: z.array(z.string().min(1)).default(["Acme"]) });

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Replaces every text in a JSON-shaped value's `content`/`text` strings. */
function rewriteTexts<T>(value: T, rewrite: (text: string) => string): T {
  return JSON.parse(
    JSON.stringify(value, (key, v) =>
      (key === "content" || key === "text") && typeof v === "string" ? rewrite(v) : v,
    ),
  ) as T;
}

function handle(body: unknown): ExtensionReply {
  const call = extensionCallSchema.parse(body);
  const { competitors } = settingsSchema.parse(call.settings);
  if (competitors.length === 0) return { contract: EXTENSION_CONTRACT_VERSION, verdict: "allow" };
  const pattern = new RegExp(`\\b(?:${competitors.map(escapeRegex).join("|")})\\b`, "gi");
  const payload = call.stage === "post" ? call.response : call.request;
  const mentions = JSON.stringify(payload ?? {}).match(pattern)?.length ?? 0;
  if (mentions === 0) return { contract: EXTENSION_CONTRACT_VERSION, verdict: "allow" };
  if (version === "v1") {
    return {
      contract: EXTENSION_CONTRACT_VERSION,
      verdict: "reject",
      reason: "competitor products may not be discussed here",
      summary: `${mentions} competitor mention(s)`,
    };
  }
  const reply: ExtensionReply = {
    contract: EXTENSION_CONTRACT_VERSION,
    verdict: "modify",
    summary: `replaced ${mentions} competitor mention(s)`,
  };
  const replaced = rewriteTexts(payload, (text) => text.replace(pattern, "another vendor"));
  if (call.stage === "post") reply.response = replaced as ExtensionReply["response"];
  else reply.request = replaced as ExtensionReply["request"];
  return reply;
}

const nc = await connect({
  servers: process.env["NATS_URL"] ?? "nats://127.0.0.1:4222",
  name: `${NAME}-${version}`,
});
const decoder = new TextDecoder();
const encoder = new TextEncoder();
nc.subscribe(extensionSubject(NAME, version), {
  queue: extensionQueueGroup(NAME, version),
  callback: (error, msg) => {
    if (error) return;
    let reply: ExtensionReply;
    try {
      reply = handle(JSON.parse(decoder.decode(msg.data)));
    } catch (failure) {
      // An off-contract call gets no verdict; Beamline sees an invalid reply and applies the step's failure mode.
      msg.respond(encoder.encode(JSON.stringify({ error: (failure as Error).message })));
      return;
    }
    msg.respond(encoder.encode(JSON.stringify(reply)));
  },
});
await nc.flush();
if (process.env["REGISTER"] === "1") {
  const stages = version === "v1" ? (["validate", "post"] as const) : (["pre", "post"] as const);
  await registerExtension(await openExtensionRegistry(nc), {
    name: NAME,
    version,
    stages: [...stages],
    contract: 1,
  });
}
// The integration test (and an operator's supervisor) waits for this line.
console.log(`${NAME}/${version} ready on ${extensionSubject(NAME, version)}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    // Drain: finish calls in flight, then leave the queue group, then exit.
    void nc.drain().then(() => process.exit(0));
  });
}
