import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { BeamlineEvent } from "../src/events/index.js";
import {
  ackFloorReached,
  type Delivery,
  ORDERED_FOLD_GROUP,
  resetToAckFloorIfHeld,
  type StageHandler,
} from "../src/nats/index.js";
import { createFoldWindow, type FoldKey } from "./fold-window.js";

/** Settings an ordered fold's caller may give (tests shorten the window, watch retries). */
export interface OrderedFoldOptions {
  /** How long the first event of a window waits for others before the window is written, ms. */
  windowMs?: number;
  /** Told when a window's write failed and is being retried. */
  onRetry?: (error: unknown, tries: number) => void;
}

/** One ordered fold: its durable consumer, the events it folds and how. */
export interface OrderedFoldSpec {
  stream: string;
  consumer: string;
  /** The consumer's filter: the events whose order the fold needs. */
  filter: string;
  windowMs: number;
  foldKey: FoldKey;
  /** The record an event changes; undefined for one that changes none (it keeps its ack place). */
  keyOf: (event: BeamlineEvent) => string | undefined;
  onRetry?: ((error: unknown, tries: number) => void) | undefined;
}

/**
 * The stage handler of an ordered KV fold (provider health, spend): events are gathered in
 * windows and folded per key in stream order with one write per key (projections/fold-window.ts),
 * a message acknowledged only once the write that covers it is stored. Across a crash the
 * consumer is reset to its ack floor at start and each window waits until the events below it
 * are acknowledged; the consumer is pinned to one instance (src/nats/ordered-fold.ts).
 */
export async function orderedFoldStage(nc: NatsConnection, spec: OrderedFoldSpec): Promise<StageHandler> {
  const jsm = await jetstreamManager(nc);
  await resetToAckFloorIfHeld(nc, jsm, spec.stream, spec.consumer);
  const window = createFoldWindow({
    windowMs: spec.windowMs,
    foldKey: spec.foldKey,
    inOrder: ackFloorReached(jsm, spec.stream, spec.consumer, spec.filter),
    ...(spec.onRetry ? { onRetry: spec.onRetry } : {}),
  });
  return {
    name: spec.consumer,
    spanName: `beamline.projector ${spec.consumer}`,
    stream: spec.stream,
    priorityGroup: ORDERED_FOLD_GROUP,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await window.add(spec.keyOf(event), event, delivery.streamSequence);
    },
  };
}
