import { z } from "zod";
import { chatCompletionSchema, chatRequestSchema } from "../chat/index.js";
import { ExtensionStages } from "../routing/index.js";

/**
 * The request-reply contract between Beamline and an external extension (a NATS service).
 *
 * Beamline sends a JSON {@link ExtensionCall} to `bl.ext.<name>.<version>` with core NATS
 * request-reply and waits up to the step's `timeoutMs` for one JSON {@link ExtensionReply}.
 * `contract` is the version of this contract: an extension answers calls of a version it
 * knows, and a reply carries the version it was written for. Version 1 is the first; fields
 * added later are optional, a change of meaning raises the version.
 */
export const EXTENSION_CONTRACT_VERSION = 1;

/** Root of extension subjects; a service listens on `bl.ext.<name>.<version>` (queue group `<name>-<version>`). */
export const EXTENSION_SUBJECT_ROOT = "bl.ext";

export function extensionSubject(name: string, version: string): string {
  return `${EXTENSION_SUBJECT_ROOT}.${name}.${version}`;
}

/** Queue group all instances of one extension version join, so each call reaches one instance. */
export function extensionQueueGroup(name: string, version: string): string {
  return `${name}-${version}`;
}

/** What Beamline sends. `request` for the pre and validate stages, `response` for post. */
export const extensionCallSchema = z.object({
  contract: z.literal(EXTENSION_CONTRACT_VERSION),
  stage: z.enum(ExtensionStages),
  tenant: z.string(),
  requestId: z.string(),
  /** The extension's settings from the tenant's pipeline step. */
  settings: z.record(z.string(), z.unknown()),
  request: chatRequestSchema.optional(),
  response: chatCompletionSchema.optional(),
});
export type ExtensionCall = z.infer<typeof extensionCallSchema>;

/**
 * What an extension answers. `modify` must carry the changed `request` (pre, validate) or
 * `response` (post); `reject` should carry a `reason` the client may read. `summary` is
 * stored in the step's event: describe what changed, never repeat personal data.
 */
export const extensionReplySchema = z.object({
  contract: z.literal(EXTENSION_CONTRACT_VERSION),
  verdict: z.enum(["allow", "reject", "modify"]),
  reason: z.string().max(500).optional(),
  request: chatRequestSchema.optional(),
  response: chatCompletionSchema.optional(),
  summary: z.string().max(500).optional(),
});
export type ExtensionReply = z.infer<typeof extensionReplySchema>;
