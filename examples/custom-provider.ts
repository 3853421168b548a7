/**
 * A custom provider served over NATS: it answers questions from a small in-memory FAQ, plain
 * and streaming, following the contract in docs/providers.md ("Custom providers over NATS").
 * Run it next to Beamline, with a provider of kind `nats-service` named `faq` configured:
 *
 *   NATS_URL=nats://127.0.0.1:4222 node --import tsx examples/custom-provider.ts
 *
 * PROVIDER_NAME changes the name (and so the subject `bl.provider.<name>`). Several copies
 * share the load: they subscribe in one queue group. It prints "ready" once subscribed.
 */
import { connect, type Msg } from "@nats-io/transport-node";
import type { ChatCompletionChunk } from "../src/chat/wire.js";
import {
  CONTRACT_VERSION,
  type ServiceChunk,
  type ServiceError,
  type ServiceFinal,
  type ServiceRequest,
  serviceRequestSchema,
  serviceSubject,
  VERSION_HEADER,
} from "../src/providers/nats-service/contract.js";

const natsUrl = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
const providerName = process.env["PROVIDER_NAME"] ?? "faq";
/** The one model this service serves; the catalog's `upstreamModel` must name it. */
const MODEL = "faq-1";

const FAQ: ReadonlyArray<{ keywords: string[]; answer: string }> = [
  {
    keywords: ["opening", "hours", "open"],
    answer: "We are open Monday to Friday, 9:00 to 17:00, and closed on public holidays.",
  },
  {
    keywords: ["refund", "return"],
    answer: "Returns are accepted within 30 days with the receipt; refunds take 5 working days.",
  },
  {
    keywords: ["shipping", "delivery"],
    answer: "Standard delivery takes 2 to 4 working days; express delivery arrives the next day.",
  },
];
const UNKNOWN = "I do not know that one yet; please ask our support team.";

const estimateTokens = (text: string) => Math.ceil(text.length / 4);
const encode = (value: ServiceChunk | ServiceFinal | ServiceError) => JSON.stringify(value);

function lastUserText(request: ServiceRequest["request"]): string {
  const last = [...request.messages].reverse().find((message) => message.role === "user");
  const content = last?.content;
  if (typeof content === "string") return content;
  return (content ?? []).map((part) => (typeof part["text"] === "string" ? part["text"] : "")).join(" ");
}

function answerTo(question: string): string {
  const words = new Set(question.toLowerCase().match(/[a-z]+/g) ?? []);
  return FAQ.find((entry) => entry.keywords.some((keyword) => words.has(keyword)))?.answer ?? UNKNOWN;
}

function replyError(msg: Msg, errorClass: ServiceError["error"]["class"], message: string) {
  msg.respond(encode({ v: CONTRACT_VERSION, type: "error", error: { class: errorClass, message } }));
}

function serve(msg: Msg) {
  if (msg.headers?.get(VERSION_HEADER) !== String(CONTRACT_VERSION)) {
    return replyError(msg, "bad_request", `this service speaks contract version ${CONTRACT_VERSION} only`);
  }
  let parsed: ReturnType<typeof serviceRequestSchema.safeParse>;
  try {
    parsed = serviceRequestSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
  } catch {
    return replyError(msg, "bad_request", "the request is not JSON");
  }
  if (!parsed.success) return replyError(msg, "bad_request", "the request does not follow the contract");
  const { model, stream, request } = parsed.data;
  if (model !== MODEL)
    return replyError(msg, "bad_request", `unknown model ${model}; this service serves ${MODEL}`);

  const question = lastUserText(request);
  const answer = answerTo(question);
  const id = `faq-${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = {
    promptTokens: estimateTokens(question),
    completionTokens: estimateTokens(answer),
    cachedTokens: 0,
  };
  const completion = {
    id,
    object: "chat.completion" as const,
    created,
    model: MODEL,
    choices: [{ index: 0, message: { role: "assistant" as const, content: answer }, finish_reason: "stop" }],
  };
  if (!stream) {
    msg.respond(encode({ v: CONTRACT_VERSION, type: "final", completion, usage }));
    return;
  }
  // One chunk per word, as a model would stream tokens; then the final message.
  const pieces = answer.split(/(?<= )/);
  pieces.forEach((piece, seq) => {
    const chunk: ChatCompletionChunk = {
      id,
      object: "chat.completion.chunk",
      created,
      model: MODEL,
      choices: [
        {
          index: 0,
          delta: seq === 0 ? { role: "assistant", content: piece } : { content: piece },
          finish_reason: seq === pieces.length - 1 ? "stop" : null,
        },
      ],
    };
    msg.respond(encode({ v: CONTRACT_VERSION, type: "chunk", seq, chunk }));
  });
  msg.respond(encode({ v: CONTRACT_VERSION, type: "final", completion, usage, chunks: pieces.length }));
}

const nc = await connect({ servers: natsUrl, name: `custom-provider-${providerName}` });
const subject = serviceSubject(providerName);
nc.subscribe(subject, {
  queue: subject,
  callback: (error, msg) => (error ? console.error(error) : serve(msg)),
});
await nc.flush();
console.log("ready");

const stop = () => void nc.drain().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
