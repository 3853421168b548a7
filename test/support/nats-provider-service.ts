import { connect, type Msg } from "@nats-io/transport-node";
import type { ChatCompletionChunk } from "../../src/chat/wire.js";
import { answerFor, type MockChatRequest } from "../../src/providers/mock/answers.js";
import { completionBody, streamFrames } from "../../src/providers/mock/frames.js";
import {
  CONTRACT_VERSION,
  type ServiceChunk,
  type ServiceError,
  type ServiceFinal,
  serviceRequestSchema,
  serviceSubject,
  VERSION_HEADER,
} from "../../src/providers/nats-service/contract.js";
import { sseData } from "./sse.js";

/** A custom provider served over NATS for tests, answering like the mock provider. */
export interface NatsProviderService {
  /** Calls answered so far. */
  readonly calls: number;
  /** The `traceparent` header of each call that carried one, in arrival order. */
  readonly traceparents: readonly string[];
  stop(): Promise<void>;
}

/** Pieces a streamed answer is split into, as the mock does. */
const STREAM_PIECES = 4;

/**
 * Serves the custom-provider contract (docs/providers.md, version 1) on `bl.provider.<name>`
 * with the mock provider's deterministic answers (`answerFor`): the same text, tool calls and
 * usage as the HTTP mock, so one expectation fits every provider. Streamed calls get the
 * mock's chunks (role, content or tool-call pieces, finish reason), then the final message.
 */
export async function startNatsProviderService(natsUrl: string, name: string): Promise<NatsProviderService> {
  const nc = await connect({ servers: natsUrl, name: `test-provider-${name}` });
  const subject = serviceSubject(name);
  let calls = 0;
  const traceparents: string[] = [];
  const send = (msg: Msg, message: ServiceChunk | ServiceFinal | ServiceError): void => {
    msg.respond(JSON.stringify(message));
  };

  nc.subscribe(subject, {
    queue: subject,
    callback: (error, msg) => {
      if (error) return;
      calls++;
      const traceparent = msg.headers?.get("traceparent");
      if (traceparent) traceparents.push(traceparent);
      const fail = (message: string) =>
        send(msg, { v: CONTRACT_VERSION, type: "error", error: { class: "bad_request", message } });
      if (msg.headers?.get(VERSION_HEADER) !== String(CONTRACT_VERSION)) return fail("contract v1 only");
      const parsed = serviceRequestSchema.safeParse(msg.json());
      if (!parsed.success) return fail("the request does not follow the contract");
      const { model, stream, request } = parsed.data;
      const answer = answerFor({ ...request, model } as unknown as MockChatRequest);
      const meta = { id: `nats-${calls}`, created: Math.floor(Date.now() / 1000), model };
      const usage = {
        promptTokens: answer.usage.prompt_tokens,
        completionTokens: answer.usage.completion_tokens,
        cachedTokens: answer.usage.prompt_tokens_details?.cached_tokens ?? 0,
      };
      const completion = completionBody(answer, meta);
      if (!stream) return send(msg, { v: CONTRACT_VERSION, type: "final", completion, usage });
      const chunks = sseData(
        streamFrames(answer, meta, false, STREAM_PIECES).join(""),
      ) as ChatCompletionChunk[];
      for (const [seq, chunk] of chunks.entries())
        send(msg, { v: CONTRACT_VERSION, type: "chunk", seq, chunk });
      send(msg, { v: CONTRACT_VERSION, type: "final", completion, usage, chunks: chunks.length });
    },
  });
  await nc.flush();
  return {
    get calls() {
      return calls;
    },
    traceparents,
    stop: () => nc.drain(),
  };
}
