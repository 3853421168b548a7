import { errors, headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import {
  type ExtensionCall,
  type ExtensionReply,
  extensionReplySchema,
  extensionSubject,
} from "./contract.js";
import { extensionRef } from "./types.js";

/** Calls an external extension once; throws a BeamlineError with an extension code on any failure. */
export interface ExternalExtensionCaller {
  /** `traceContext`: W3C headers (`traceparent`, `tracestate`) sent as NATS message headers. */
  call(
    name: string,
    version: string,
    call: ExtensionCall,
    timeoutMs: number,
    traceContext?: Readonly<Record<string, string>>,
  ): Promise<ExtensionReply>;
}

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error; e !== undefined && chain.length < 5; e = (e as { cause?: unknown }).cause) {
    chain.push(e);
    if (!(e instanceof Error)) break;
  }
  return chain;
}

/**
 * The NATS adapter: one core request-reply per call on `bl.ext.<name>.<version>`, JSON both
 * ways. Timeouts, "no responders" (nobody listens on the subject), unparseable and
 * off-contract replies each map to their own code, so the step's failure mode and the
 * event say what went wrong.
 */
export function createNatsExtensionCaller(nc: NatsConnection): ExternalExtensionCaller {
  const encoder = new TextEncoder();
  return {
    async call(name, version, call, timeoutMs, traceContext) {
      const ref = extensionRef(name, version);
      let replyData: Uint8Array;
      try {
        const entries = Object.entries(traceContext ?? {});
        let traceHeaders: MsgHdrs | undefined;
        if (entries.length > 0) {
          traceHeaders = headers();
          for (const [header, value] of entries) traceHeaders.set(header, value);
        }
        const reply = await nc.request(
          extensionSubject(name, version),
          encoder.encode(JSON.stringify(call)),
          { timeout: timeoutMs, ...(traceHeaders ? { headers: traceHeaders } : {}) },
        );
        replyData = reply.data;
      } catch (error) {
        const chain = causes(error);
        if (chain.some((e) => e instanceof errors.TimeoutError)) {
          throw new BeamlineError(
            "BL_EXTENSION_TIMEOUT",
            `extension ${ref} did not answer within ${timeoutMs} ms`,
            {
              cause: error,
            },
          );
        }
        if (chain.some((e) => e instanceof errors.NoRespondersError)) {
          throw new BeamlineError(
            "BL_EXTENSION_UNAVAILABLE",
            `no instance of extension ${ref} listens on ${extensionSubject(name, version)}`,
            { cause: error },
          );
        }
        throw new BeamlineError(
          "BL_EXTENSION_FAILED",
          `calling extension ${ref} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder().decode(replyData));
      } catch (error) {
        throw new BeamlineError(
          "BL_EXTENSION_FAILED",
          `extension ${ref} answered something that is not JSON`,
          {
            cause: error,
          },
        );
      }
      const parsed = extensionReplySchema.safeParse(body);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        throw new BeamlineError(
          "BL_EXTENSION_FAILED",
          `extension ${ref} answered off contract: ${first?.path.join(".") || "(root)"}: ${first?.message ?? "invalid"}`,
        );
      }
      return parsed.data;
    },
  };
}
