import { z } from "zod";
import type { ChatCompletion, ChatRequest } from "../../../chat/index.js";
import { mapCompletionTexts, mapRequestTexts, requestTexts } from "../../message-text.js";
import type { BuiltinExtension, StepVerdict, TextStreamTransform } from "../../types.js";
import { createDetectors, type PiiDetector, PiiKinds } from "./detectors.js";
import { type MaskCounts, maskText, StreamMasker } from "./mask.js";

/** Settings of `pii/v1`, from the step's `settings` in the tenant's pipeline. */
export const piiSettingsSchema = z.strictObject({
  /** Kinds to detect; all by default. */
  kinds: z
    .array(z.enum(PiiKinds))
    .min(1)
    .default([...PiiKinds]),
  /** `[EMAIL]` style labels, or partial masking that keeps a recognisable end. */
  style: z.enum(["label", "partial"]).default("label"),
  /** `mask` rewrites the text; `reject` refuses a request or response that contains PII. */
  action: z.enum(["mask", "reject"]).default("mask"),
  /** Minimum entropy (bits per character) of a long token without a known prefix to count as a secret. */
  secretEntropyBits: z.number().min(2).max(6).default(3.5),
  /** Minimum length of such a token. */
  secretMinLength: z.number().int().min(16).max(256).default(32),
});
export type PiiSettings = z.infer<typeof piiSettingsSchema> & { detectors: PiiDetector[] };

function describe(counts: MaskCounts): { summary: string; changes: Record<string, number> } {
  const changes: Record<string, number> = {};
  for (const [kind, count] of Object.entries(counts)) changes[`masked.${kind}`] = count;
  const parts = Object.entries(counts).map(([kind, count]) => `${count} ${kind}`);
  return { summary: `masked ${parts.join(", ")}`, changes };
}

function verdictFor<T>(original: T, masked: T, counts: MaskCounts, settings: PiiSettings): StepVerdict<T> {
  if (Object.keys(counts).length === 0) return { verdict: "allow" };
  const { summary, changes } = describe(counts);
  if (settings.action === "reject") {
    return {
      verdict: "reject",
      reason: `contains personal data (${Object.keys(counts).join(", ")})`,
      changes,
    };
  }
  return original === masked ? { verdict: "allow" } : { verdict: "modify", value: masked, summary, changes };
}

/** `pii/v1`: detects and masks personal data and secrets in requests and responses, streams included. */
export const piiV1: BuiltinExtension<PiiSettings> = {
  name: "pii",
  version: "v1",
  stages: ["pre", "validate", "post"],
  description: "Masks (or rejects) e-mails, phone numbers, cards, IBANs, SSNs, IPs and secrets",
  parseSettings(settings) {
    const parsed = piiSettingsSchema.parse(settings);
    const detectors = createDetectors({
      secretEntropyBits: parsed.secretEntropyBits,
      secretMinLength: parsed.secretMinLength,
    }).filter((d) => parsed.kinds.includes(d.kind));
    return { ...parsed, detectors };
  },
  onRequest(request: ChatRequest, settings) {
    const counts: MaskCounts = {};
    if (settings.action === "reject") {
      for (const text of requestTexts(request)) maskText(text, settings.detectors, settings.style, counts);
      return verdictFor(request, request, counts, settings);
    }
    const masked = mapRequestTexts(request, (text) =>
      maskText(text, settings.detectors, settings.style, counts),
    );
    return verdictFor(request, masked, counts, settings);
  },
  onCompletion(completion: ChatCompletion, settings) {
    const counts: MaskCounts = {};
    const masked = mapCompletionTexts(completion, (text) =>
      maskText(text, settings.detectors, settings.style, counts),
    );
    return verdictFor(completion, masked, counts, settings);
  },
  createStreamTransform(settings): TextStreamTransform {
    const masker = new StreamMasker(settings.detectors, settings.style);
    let rejection: string | undefined;
    const check = (out: string) => {
      if (settings.action === "reject" && Object.keys(masker.counts).length > 0) {
        rejection = `response contains personal data (${Object.keys(masker.counts).join(", ")})`;
        return "";
      }
      return out;
    };
    return {
      push: (piece) => check(masker.push(piece)),
      end: () => check(masker.end()),
      get rejection() {
        return rejection;
      },
      summary: () => (Object.keys(masker.counts).length === 0 ? undefined : describe(masker.counts)),
    };
  },
};
