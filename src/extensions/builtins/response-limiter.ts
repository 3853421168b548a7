import { z } from "zod";
import type { ChatCompletion } from "../../chat/wire.js";
import type { BuiltinExtension, TextStreamTransform } from "../types.js";

/**
 * Settings of `limit/v1`. Tokens are estimated as characters / 4 (no tokenizer runs in the
 * worker); set `maxChars` for an exact bound.
 */
export const limiterSettingsSchema = z
  .strictObject({
    maxChars: z.number().int().positive().optional(),
    maxTokens: z.number().int().positive().optional(),
    /** `truncate` cuts the text and finishes with `length`; `reject` fails the response. */
    action: z.enum(["truncate", "reject"]).default("truncate"),
  })
  .refine((s) => s.maxChars !== undefined || s.maxTokens !== undefined, "set maxChars or maxTokens");
export interface LimiterSettings {
  limitChars: number;
  action: "truncate" | "reject";
}

/** Characters per token used to turn `maxTokens` into a character bound. */
export const CHARS_PER_TOKEN = 4;

/** `limit/v1`: bounds the size of a response, streamed or not. */
export const limitV1: BuiltinExtension<LimiterSettings> = {
  name: "limit",
  version: "v1",
  stages: ["post"],
  description: "Truncates or rejects responses over a size or estimated token limit",
  parseSettings(settings) {
    const parsed = limiterSettingsSchema.parse(settings);
    const limits = [
      parsed.maxChars,
      parsed.maxTokens === undefined ? undefined : parsed.maxTokens * CHARS_PER_TOKEN,
    ];
    return {
      limitChars: Math.min(...limits.filter((l): l is number => l !== undefined)),
      action: parsed.action,
    };
  },
  onCompletion(completion: ChatCompletion, settings) {
    const over = completion.choices.filter((c) => (c.message.content ?? "").length > settings.limitChars);
    if (over.length === 0) return { verdict: "allow" };
    if (settings.action === "reject") {
      return { verdict: "reject", reason: `response longer than ${settings.limitChars} characters` };
    }
    const value: ChatCompletion = {
      ...completion,
      choices: completion.choices.map((choice) =>
        (choice.message.content ?? "").length > settings.limitChars
          ? {
              ...choice,
              message: {
                ...choice.message,
                content: (choice.message.content ?? "").slice(0, settings.limitChars),
              },
              finish_reason: "length",
            }
          : choice,
      ),
    };
    return {
      verdict: "modify",
      value,
      summary: `truncated ${over.length} choice(s) to ${settings.limitChars} characters`,
      changes: { truncated: over.length },
    };
  },
  createStreamTransform(settings): TextStreamTransform {
    let sent = 0;
    let truncated = false;
    let rejection: string | undefined;
    return {
      push(piece) {
        if (truncated || rejection !== undefined) return "";
        const room = settings.limitChars - sent;
        if (piece.length <= room) {
          sent += piece.length;
          return piece;
        }
        if (settings.action === "reject") {
          rejection = `response longer than ${settings.limitChars} characters`;
          return "";
        }
        truncated = true;
        sent += room;
        return piece.slice(0, room);
      },
      end: () => "",
      get rejection() {
        return rejection;
      },
      get finishReason() {
        return truncated ? "length" : undefined;
      },
      summary: () =>
        truncated
          ? { summary: `truncated to ${settings.limitChars} characters`, changes: { truncated: 1 } }
          : undefined,
    };
  },
};
