import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { isSafeToken } from "../events/index.js";
import { quotaLimitsSchema } from "../quotas/index.js";

/**
 * What an operator may send to create, change or issue things: one zod schema per action,
 * shared by the admin HTTP API and the CLI so both refuse the same inputs with the same words.
 * Objects are strict: a misspelt field is an error, not silently ignored.
 */

const MAX_GRACE_SECONDS = 30 * 86_400;

export const tenantIdSchema = z
  .string()
  .refine(isSafeToken, "use 1-64 characters of A-Z, a-z, 0-9, '_' or '-' (tenant ids are subject tokens)");

export const createTenantInputSchema = z.strictObject({
  id: tenantIdSchema,
  name: z.string().min(1).max(200).optional(),
});

export const disableTenantInputSchema = z.strictObject({
  reason: z.string().min(1).max(500).optional(),
});

const expiry = {
  /** An absolute expiry (ISO 8601 with offset). */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** Or a lifetime from now, in seconds. */
  expiresInSeconds: z.number().int().positive().optional(),
};

export const issueKeyInputSchema = z
  .strictObject({
    label: z.string().min(1).max(100).optional(),
    ...expiry,
    /** Catalog model ids or aliases the key may use; absent means every model. */
    models: z.array(z.string().min(1).max(200)).min(1).max(200).optional(),
    limits: quotaLimitsSchema.optional(),
  })
  .refine((input) => input.expiresAt === undefined || input.expiresInSeconds === undefined, {
    message: "give expiresAt or expiresInSeconds, not both",
    path: ["expiresAt"],
  });

export const rotateKeyInputSchema = z
  .strictObject({
    /** How long the old key keeps working after the new one is issued; 0 (default) = at once. */
    graceSeconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).default(0),
    ...expiry,
  })
  .refine((input) => input.expiresAt === undefined || input.expiresInSeconds === undefined, {
    message: "give expiresAt or expiresInSeconds, not both",
    path: ["expiresAt"],
  });

export const issueProducerInputSchema = z.strictObject({
  label: z.string().min(1).max(100).optional(),
  /** Catalog model ids or aliases the producer may use; absent means every model. */
  models: z.array(z.string().min(1).max(200)).min(1).max(200).optional(),
  limits: quotaLimitsSchema.optional(),
  /** The credential may also read the tenant's usage stream. */
  readUsage: z.boolean().default(false),
});

export type IssueProducerInput = z.input<typeof issueProducerInputSchema>;

export type CreateTenantInput = z.infer<typeof createTenantInputSchema>;
export type DisableTenantInput = z.infer<typeof disableTenantInputSchema>;
export type IssueKeyInput = z.infer<typeof issueKeyInputSchema>;
export type RotateKeyInput = z.infer<typeof rotateKeyInputSchema>;

/**
 * Validates `value` or throws `BL_BAD_REQUEST` listing every problem, `param` naming the
 * first field at fault.
 */
export function parseAdminInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  const problems = issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
  const param = issues[0]?.path.join(".");
  throw new BeamlineError("BL_BAD_REQUEST", `Invalid input: ${problems}`, param ? { param } : {});
}

/** The absolute expiry of an input at `now`, as UTC ISO, or undefined; refuses the past. */
export function resolveExpiry(
  input: { expiresAt?: string | undefined; expiresInSeconds?: number | undefined },
  now: Date,
): string | undefined {
  const at =
    input.expiresAt !== undefined
      ? new Date(input.expiresAt)
      : input.expiresInSeconds !== undefined
        ? new Date(now.getTime() + input.expiresInSeconds * 1000)
        : undefined;
  if (at === undefined) return undefined;
  if (at.getTime() <= now.getTime()) {
    throw new BeamlineError("BL_BAD_REQUEST", "The expiry is in the past; give a future time.", {
      param: "expiresAt",
    });
  }
  return at.toISOString();
}
