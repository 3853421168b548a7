import { z } from "zod";
import type { ChatCompletion, ChatRequest } from "../../chat/index.js";
import { completionTexts, requestTexts } from "../message-text.js";
import type { BuiltinExtension, StepVerdict } from "../types.js";
import { unsafeRegexReason } from "./safe-regex.js";

const categorySchema = z
  .strictObject({
    /** Name recorded in outcomes, e.g. `competitors`; never the matched text. */
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    /** `block` rejects; `flag` lets the text through and records the category. */
    action: z.enum(["block", "flag"]),
    /** Whole words or phrases, matched case-insensitively. */
    terms: z.array(z.string().min(1).max(200)).max(1_000).default([]),
    /** Regular expressions (a safe subset, see safe-regex.ts), matched case-insensitively. */
    patterns: z
      .array(
        z.string().superRefine((pattern, ctx) => {
          const reason = unsafeRegexReason(pattern);
          if (reason !== undefined) ctx.addIssue({ code: "custom", message: `pattern refused: ${reason}` });
        }),
      )
      .max(100)
      .default([]),
  })
  .refine((c) => c.terms.length + c.patterns.length > 0, "a category needs terms or patterns");

/** Settings of `content-policy/v1`. */
export const contentPolicySettingsSchema = z.strictObject({
  categories: z.array(categorySchema).min(1).max(50),
  /** Characters of text examined per check; longer text is examined up to this length. */
  maxTextChars: z.number().int().positive().max(1_000_000).default(200_000),
});

interface CompiledCategory {
  name: string;
  action: "block" | "flag";
  matcher: RegExp;
}
export interface ContentPolicySettings {
  categories: CompiledCategory[];
  maxTextChars: number;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Categories whose terms or patterns occur in `texts`. */
function matchedCategories(texts: string[], settings: ContentPolicySettings): CompiledCategory[] {
  const text = texts.join("\n").slice(0, settings.maxTextChars);
  return settings.categories.filter((category) => category.matcher.test(text));
}

function judge<T>(texts: string[], settings: ContentPolicySettings): StepVerdict<T> {
  const matched = matchedCategories(texts, settings);
  const changes = Object.fromEntries(matched.map((c) => [`${c.action}.${c.name}`, 1]));
  const blocked = matched.filter((c) => c.action === "block");
  if (blocked.length > 0) {
    return {
      verdict: "reject",
      reason: `blocked by content policy: ${blocked.map((c) => c.name).join(", ")}`,
      changes,
    };
  }
  if (matched.length > 0)
    return { verdict: "allow", summary: `flagged ${matched.map((c) => c.name).join(", ")}`, changes };
  return { verdict: "allow" };
}

/** `content-policy/v1`: tenant-defined categories of terms and regexes that block or flag text. */
export const contentPolicyV1: BuiltinExtension<ContentPolicySettings> = {
  name: "content-policy",
  version: "v1",
  stages: ["pre", "validate", "post"],
  description: "Blocks or flags requests and responses matching tenant-defined terms and patterns",
  parseSettings(settings) {
    const parsed = contentPolicySettingsSchema.parse(settings);
    return {
      maxTextChars: parsed.maxTextChars,
      categories: parsed.categories.map((category) => {
        const alternatives = [
          ...category.terms.map((term) => `(?<![\\p{L}\\p{N}])${escapeRegex(term)}(?![\\p{L}\\p{N}])`),
          ...category.patterns.map((pattern) => `(?:${pattern})`),
        ];
        return {
          name: category.name,
          action: category.action,
          matcher: new RegExp(alternatives.join("|"), "iu"),
        };
      }),
    };
  },
  onRequest: (request: ChatRequest, settings) => judge(requestTexts(request), settings),
  onCompletion: (completion: ChatCompletion, settings) => judge(completionTexts(completion), settings),
};
