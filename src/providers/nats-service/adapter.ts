import { performance } from "node:perf_hooks";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { ProviderError } from "../provider-error.js";
import {
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderResult,
} from "../types.js";
import { describeIssues, parseProviderOptions } from "../validation.js";
import {
  CONTRACT_VERSION,
  type ServiceRequest,
  serviceReplySchema,
  serviceSubject,
  VERSION_HEADER,
} from "./contract.js";

/** Options of {@link createNatsServiceAdapter}. Validated once; all problems are reported together. */
export interface NatsServiceAdapterOptions {
  /** Provider name as the model catalog refers to it; also the subject token (`bl.provider.<name>`). */
  name: string;
  /** The connection requests go out on. Not owned: `close()` leaves it open. */
  nc: NatsConnection;
  /** Subject the service listens on. Default `bl.provider.<name>`. */
  subject?: string;
  /**
   * Deadline of a whole call in milliseconds: the one reply of a plain call, or the final
   * message of a streamed one. Default 120 000.
   */
  timeoutMs?: number;
  /**
   * Streaming only: longest silence before the first message and between two messages, in
   * milliseconds. Default 30 000.
   */
  idleTimeoutMs?: number;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const optionsSchema = z.strictObject({
  name: z.string().regex(NAME, "must be lower-case letters, digits, - or _ (one NATS subject token)"),
  nc: z.custom<NatsConnection>((value) => typeof value === "object" && value !== null),
  subject: z
    .string()
    .regex(/^[^\s*>]+$/, "must be a literal subject (no spaces or wildcards)")
    .optional(),
  timeoutMs: z.number().int().positive().default(120_000),
  idleTimeoutMs: z.number().int().positive().default(30_000),
});

/** NATS status of a "no responders" answer: nobody subscribes to the subject. */
const NO_RESPONDERS = 503;

/**
 * A ProviderAdapter that calls a custom provider served over NATS request-reply (the
 * contract is in `contract.ts` and docs/providers.md). Each call subscribes a fresh inbox,
 * publishes the request to the service's subject with that inbox as reply subject, and
 * reads the replies: one final (or error) message, or numbered chunks then a final.
 *
 * Failures reject with a {@link ProviderError}: no service subscribed → `connection`;
 * no reply in time → `timeout`; a reply that breaks the contract → `malformed`; an error
 * message → its own class. Once a chunk reached `onChunk`, any failure (a lost chunk, a
 * timeout, an error message) becomes `stream_interrupted`. The caller's abort rejects with
 * `signal.reason`; an `onChunk` that throws rejects with its error, unchanged.
 */
export function createNatsServiceAdapter(options: NatsServiceAdapterOptions): ProviderAdapter {
  const config = parseProviderOptions(optionsSchema, options, "NATS service provider");
  const providerName = config.name;
  const subject = config.subject ?? serviceSubject(providerName);
  const nc = config.nc;

  function complete(call: ProviderCall): Promise<ProviderResult> {
    if (call.signal?.aborted) return Promise.reject(call.signal.reason);
    const streaming = call.onChunk !== undefined;
    const startedAt = performance.now();

    return new Promise<ProviderResult>((resolve, reject) => {
      let settled = false;
      let nextSeq = 0;
      let firstTokenAt: number | undefined;
      let idleTimer: NodeJS.Timeout | undefined;
      // Under the connection's own inbox prefix: a least-privilege credential may subscribe only there.
      const inbox = createInbox(
        (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix || undefined,
      );

      const end = (): void => {
        settled = true;
        clearTimeout(deadlineTimer);
        clearTimeout(idleTimer);
        call.signal?.removeEventListener("abort", onAbort);
        subscription.unsubscribe();
      };
      const fail = (errorClass: ProviderErrorClass, message: string, retryAfterMs?: number) => {
        if (settled) return;
        end();
        // Lost messages are `connection` failures; after a delivered chunk every failure is wrapped below.
        const failure = new ProviderError(
          errorClass,
          `${providerName} ${message}`,
          retryAfterMs === undefined ? {} : { retryAfterMs },
        );
        if (nextSeq === 0) return reject(failure);
        reject(
          new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream broke after ${nextSeq} chunk(s): ${failure.message}`,
            { cause: failure },
          ),
        );
      };
      const onAbort = (): void => {
        if (settled) return;
        end();
        reject(call.signal?.reason);
      };
      const armIdle = (): void => {
        if (!streaming) return;
        clearTimeout(idleTimer);
        idleTimer = setTimeout(
          () =>
            fail(
              ProviderErrorClass.Timeout,
              `service sent nothing for ${config.idleTimeoutMs} ms on ${subject}`,
            ),
          config.idleTimeoutMs,
        );
      };

      const handle = (msg: Msg) => {
        if (settled) return;
        armIdle();
        if (msg.headers?.code === NO_RESPONDERS) {
          return fail(
            ProviderErrorClass.Connection,
            `has no service subscribed to ${subject}; start the provider service or fix the provider name`,
          );
        }
        let value: unknown;
        try {
          value = JSON.parse(new TextDecoder().decode(msg.data));
        } catch {
          return fail(ProviderErrorClass.Malformed, "service replied with a message that is not JSON");
        }
        const reply = serviceReplySchema.safeParse(value);
        if (!reply.success) {
          return fail(
            ProviderErrorClass.Malformed,
            `service broke the reply contract: ${describeIssues(reply.error)}`,
          );
        }
        const message = reply.data;
        if (message.type === "error") {
          return fail(
            message.error.class,
            `service answered an error: ${message.error.message}`,
            message.error.retryAfterMs,
          );
        }
        if (message.type === "chunk") {
          if (!streaming)
            return fail(ProviderErrorClass.Malformed, "service streamed a chunk to a plain request");
          if (message.seq !== nextSeq) {
            return fail(
              ProviderErrorClass.Connection,
              `service chunk ${nextSeq} never arrived (got ${message.seq} next); a message was lost`,
            );
          }
          nextSeq++;
          if (firstTokenAt === undefined) firstTokenAt = performance.now();
          try {
            call.onChunk!(message.chunk);
          } catch (error) {
            end();
            reject(error);
          }
          return;
        }
        if (streaming && message.chunks !== nextSeq) {
          return fail(
            ProviderErrorClass.Connection,
            `service sent ${nextSeq} of the ${message.chunks} chunk(s) it announced; a message was lost`,
          );
        }
        const finishedAt = performance.now();
        end();
        resolve({
          completion: message.completion,
          usage: message.usage,
          timeToFirstTokenMs: (firstTokenAt ?? finishedAt) - startedAt,
        });
      };

      const subscription = nc.subscribe(inbox, {
        callback: (error, msg) => {
          if (error) fail(ProviderErrorClass.Connection, `reply subscription failed: ${error.message}`);
          else handle(msg);
        },
      });
      const deadlineTimer = setTimeout(
        () =>
          fail(
            ProviderErrorClass.Timeout,
            `service did not finish within ${config.timeoutMs} ms on ${subject}`,
          ),
        config.timeoutMs,
      );
      call.signal?.addEventListener("abort", onAbort, { once: true });
      armIdle();

      const request: ServiceRequest = {
        v: CONTRACT_VERSION,
        type: "request",
        model: call.upstreamModel,
        stream: streaming,
        request: call.request,
      };
      const requestHeaders = headers();
      requestHeaders.set(VERSION_HEADER, String(CONTRACT_VERSION));
      requestHeaders.set("content-type", "application/json");
      for (const [name, value] of Object.entries(call.traceContext ?? {})) requestHeaders.set(name, value);
      try {
        nc.publish(subject, JSON.stringify(request), { reply: inbox, headers: requestHeaders });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        // The payload limit is the usual cause; a closed connection the other.
        fail(
          /payload/i.test(reason) ? ProviderErrorClass.BadRequest : ProviderErrorClass.Connection,
          `could not publish the request to ${subject}: ${reason}`,
        );
      }
    });
  }

  return {
    name: providerName,
    telemetry: { genAiProviderName: providerName },
    complete,
    close: async () => {},
  };
}
