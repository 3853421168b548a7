import type { z } from "zod";
import { BeamlineError } from "../errors/index.js";

/** The outcome of checking a value at the provider boundary: the value, or why it was refused. */
export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Paths and zod's messages of a failed parse (first three), never the offending values. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"} ${issue.message}`)
    .join("; ");
}

/**
 * Validates the options of an adapter or of the mock once and freezes them; every problem is
 * reported together in one `BL_CONFIG_INVALID` error naming `what` ("OpenAI adapter", …).
 * Paths and zod's messages only, so a misplaced key never lands in the message.
 */
export function parseProviderOptions<Schema extends z.ZodType>(
  schema: Schema,
  options: unknown,
  what: string,
): Readonly<z.output<Schema>> {
  const result = schema.safeParse(options);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `Invalid ${what} options: ${problems.join("; ")}`);
  }
  return Object.freeze(result.data);
}
