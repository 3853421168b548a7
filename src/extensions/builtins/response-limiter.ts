import { z } from "zod";
import type { ChatCompletion } from "../../chat/index.js";
import { countTextTokens, TokenizerKinds, truncateToTokens } from "../../tokens/index.js";
import type { BuiltinExtension, TextStreamTransform } from "../types.js";

/**
 * Settings of `limit/v1`. `maxChars` is exact; `maxTokens` is counted with the shared token
 * counter's conservative approximation (src/tokens): a stream transform does not know which
 * model wrote the text, and the approximation counts at least as many tokens as OpenAI's
 * encodings do, so a response cut to `maxTokens` is no longer than that for them either.
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
  maxChars: number;
  maxTokens: number;
  action: "truncate" | "reject";
  /** The limits for people: "500 characters", "200 tokens", or both. */
  described: string;
}

const KIND = TokenizerKinds.approximate;

function cut(text: string, chars: number, tokens: number): string {
  const byChars = text.length > chars ? text.slice(0, chars) : text;
  return tokens === Number.POSITIVE_INFINITY ? byChars : truncateToTokens(KIND, byChars, tokens);
}

function over(text: string, settings: LimiterSettings): boolean {
  if (text.length > settings.maxChars) return true;
  return settings.maxTokens !== Number.POSITIVE_INFINITY && countTextTokens(KIND, text) > settings.maxTokens;
}

/** `limit/v1`: bounds the size of a response, streamed or not. */
export const limitV1: BuiltinExtension<LimiterSettings> = {
  name: "limit",
  version: "v1",
  stages: ["post"],
  description: "Truncates or rejects responses over a size or token limit",
  parseSettings(settings) {
    const parsed = limiterSettingsSchema.parse(settings);
    const described = [
      parsed.maxChars === undefined ? undefined : `${parsed.maxChars} characters`,
      parsed.maxTokens === undefined ? undefined : `${parsed.maxTokens} tokens`,
    ];
    return {
      maxChars: parsed.maxChars ?? Number.POSITIVE_INFINITY,
      maxTokens: parsed.maxTokens ?? Number.POSITIVE_INFINITY,
      action: parsed.action,
      described: described.filter((d) => d !== undefined).join(" or "),
    };
  },
  onCompletion(completion: ChatCompletion, settings) {
    const long = completion.choices.filter((c) => over(c.message.content ?? "", settings));
    if (long.length === 0) return { verdict: "allow" };
    if (settings.action === "reject") {
      return { verdict: "reject", reason: `response longer than ${settings.described}` };
    }
    const value: ChatCompletion = {
      ...completion,
      choices: completion.choices.map((choice) =>
        over(choice.message.content ?? "", settings)
          ? {
              ...choice,
              message: {
                ...choice.message,
                content: cut(choice.message.content ?? "", settings.maxChars, settings.maxTokens),
              },
              finish_reason: "length",
            }
          : choice,
      ),
    };
    return {
      verdict: "modify",
      value,
      summary: `truncated ${long.length} choice(s) to ${settings.described}`,
      changes: { truncated: long.length },
    };
  },
  createStreamTransform(settings): TextStreamTransform {
    // Tokens are counted piece by piece (re-encoding the whole text per chunk would be
    // quadratic): a piece boundary splits tokens rather than merging them, so the running
    // sum errs high, if anything, against the count of the text sent.
    let sentChars = 0;
    let sentTokens = 0;
    let truncated = false;
    let rejection: string | undefined;
    return {
      push(piece) {
        if (truncated || rejection !== undefined) return "";
        const roomChars = settings.maxChars - sentChars;
        const roomTokens = settings.maxTokens - sentTokens;
        const tokens = settings.maxTokens === Number.POSITIVE_INFINITY ? 0 : countTextTokens(KIND, piece);
        if (piece.length <= roomChars && tokens <= roomTokens) {
          sentChars += piece.length;
          sentTokens += tokens;
          return piece;
        }
        if (settings.action === "reject") {
          rejection = `response longer than ${settings.described}`;
          return "";
        }
        truncated = true;
        const kept = cut(piece, roomChars, roomTokens);
        sentChars += kept.length;
        return kept;
      },
      end: () => "",
      get rejection() {
        return rejection;
      },
      get finishReason() {
        return truncated ? "length" : undefined;
      },
      summary: () =>
        truncated ? { summary: `truncated to ${settings.described}`, changes: { truncated: 1 } } : undefined,
    };
  },
};
