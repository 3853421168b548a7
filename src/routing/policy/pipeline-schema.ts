import { z } from "zod";

/**
 * The extension pipeline of a tenant, as it appears in the tenant's policy document. This
 * is a shared contract: the policy engine stores it, the extension runner executes it.
 */

/** Where in a request's life an extension runs. */
export const ExtensionStages = ["pre", "validate", "post"] as const;
export type ExtensionStage = (typeof ExtensionStages)[number];

/** Extension names and versions become NATS subject tokens (`bl.ext.<name>.<version>`). */
const subjectToken = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "use 1-64 characters of A-Z, a-z, 0-9, '_' or '-' (no dots)");

export const pipelineStepSchema = z.object({
  /** Registered extension name, e.g. `pii` or `crm-enrich`. */
  name: subjectToken,
  /** Pinned version, e.g. `v1`; two tenants may pin two versions of one extension at once. */
  version: subjectToken,
  /** Longest wait for the extension's answer before its failure mode applies. */
  timeoutMs: z.number().int().positive().max(60_000).default(1_000),
  /** `fail-closed` rejects the request when the extension errs or times out; `fail-open` skips it. */
  failureMode: z.enum(["fail-open", "fail-closed"]).default("fail-closed"),
  /** Tenant-specific settings handed to the extension on every call (kinds to mask, term lists, ...). */
  settings: z.record(z.string(), z.unknown()).default({}),
});

/** Steps run in array order within a stage; stages run pre → validate → (route, execute) → post. */
export const pipelineSchema = z.object({
  pre: z.array(pipelineStepSchema).default([]),
  validate: z.array(pipelineStepSchema).default([]),
  post: z.array(pipelineStepSchema).default([]),
});

export type PipelineStep = z.infer<typeof pipelineStepSchema>;
export type Pipeline = z.infer<typeof pipelineSchema>;
