import {
  type ChatRequest,
  type EmbeddingsRequest,
  embeddingsRoutingView,
  withRoutedInputs,
} from "../chat/index.js";
import { requireContent } from "../events/index.js";
import type { AcceptedEvent } from "./context.js";

/**
 * The worker's view of what a request asks for. A chat request goes through the steps as it
 * is; an embeddings request goes through them as its routing view (src/chat/embeddings.ts) —
 * the chat request extensions, the policy engine and the quota estimate read — and only the
 * execute step, the finish step and the gateway see the embeddings request itself.
 */

/** The embeddings request of `accepted`, or undefined for a chat request. */
export function acceptedEmbeddings(accepted: AcceptedEvent): EmbeddingsRequest | undefined {
  if (accepted.data.operation !== "embeddings") return undefined;
  return requireContent(accepted.data.embeddings, accepted);
}

/** The chat request the admit and route steps work on: the request, or the embeddings' routing view. */
export function routedRequestOf(accepted: AcceptedEvent): ChatRequest {
  const embeddings = acceptedEmbeddings(accepted);
  return embeddings ? embeddingsRoutingView(embeddings) : requireContent(accepted.data.request, accepted);
}

/**
 * The embeddings request to execute: the accepted one, with the text pre-processing extensions
 * left in the routed view (masked inputs). Deterministic, so a redelivery that resumes from the
 * stored decision executes the same inputs.
 */
export function embeddingsToExecute(
  accepted: AcceptedEvent,
  routed: ChatRequest,
): EmbeddingsRequest | undefined {
  const embeddings = acceptedEmbeddings(accepted);
  return embeddings ? withRoutedInputs(embeddings, routed) : undefined;
}
