import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeEvent, SubjectRoots } from "../events/index.js";
import type { TerminalEvent } from "../stages/index.js";
import { LiveHeaders, LiveKinds } from "../stages/index.js";

export interface Waiter {
  /** A streamed chunk (OpenAI chunk JSON bytes) and the execution generation that sent it. */
  onChunk?(json: Uint8Array, generation: string): void;
  onTerminal(event: TerminalEvent): void;
}

/**
 * One gateway instance's live inbox: a single wildcard subscription on
 * `bl.live.<gatewayId>.*`, fanned out to the requests this instance is waiting for.
 * One subscription for all requests keeps the per-request cost at a map lookup.
 */
export class WaiterRegistry {
  private readonly waiters = new Map<string, Waiter>();
  private readonly subscription: Subscription;
  readonly prefix: string;

  constructor(nc: NatsConnection, gatewayId: string, onError: (error: unknown) => void) {
    this.prefix = `${SubjectRoots.live}.${gatewayId}`;
    this.subscription = nc.subscribe(`${this.prefix}.*`, {
      callback: (error, msg) => {
        if (error) return onError(error);
        try {
          this.dispatch(msg);
        } catch (dispatchError) {
          onError(dispatchError);
        }
      },
    });
  }

  replySubject(requestId: string): string {
    return `${this.prefix}.${requestId}`;
  }

  register(requestId: string, waiter: Waiter): () => void {
    this.waiters.set(requestId, waiter);
    return () => this.waiters.delete(requestId);
  }

  get size(): number {
    return this.waiters.size;
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  private dispatch(msg: Msg): void {
    const requestId = msg.subject.slice(this.prefix.length + 1);
    const waiter = this.waiters.get(requestId);
    if (!waiter) return;
    const kind = msg.headers?.get(LiveHeaders.kind);
    if (kind === LiveKinds.chunk) {
      waiter.onChunk?.(msg.data, msg.headers?.get(LiveHeaders.generation) ?? "");
    } else if (kind === LiveKinds.terminal) {
      const event = decodeEvent(msg.data, msg.headers);
      if (event.type === "request.completed" || event.type === "request.failed")
        waiter.onTerminal(event as TerminalEvent);
    }
  }
}
