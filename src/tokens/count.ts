/**
 * Token counts of text and chat prompts, one rule for every caller (routing's context check,
 * quota admission, the executor's fallback usage, the response limiter, the mock provider).
 * Pure: no I/O, no clock; each encoding is loaded once per process, on its first use.
 */
import { encoding, encodingNameOf, type TokenizerKind, TokenizerKinds } from "./tokenizers.js";

/**
 * What the `approximate` tokenizer multiplies the `cl100k_base` count by, rounding up. Used for
 * models whose tokenizer is not public (Anthropic, Gemini, unknown), so its error cannot be
 * measured here; the factor bounds it by design. Anthropic documents about 3.5 English
 * characters per token, Google about 4; `cl100k_base` counts 4.94 characters per token on the
 * English prose of bench/token-counter.ts, so 4.94 / 3.5 = 1.41 matches Anthropic's ratio, and
 * 1.45 leaves a margin. On code, digits and non-Latin scripts the real ratio is unknown too;
 * `cl100k_base` already spends about a token per character on CJK and Devanagari, so the bound
 * holds there unless a tokenizer needs more than 1.45 tokens per character. Erring high costs little (a reservation settles
 * to actual usage; a context check keeps headroom); erring low lets an over-budget or
 * over-long request through.
 */
export const APPROXIMATION_FACTOR = 1.45;

/** Tokens an image part is counted as: a high-detail 512-pixel tile plus the base charge. */
export const IMAGE_PART_TOKENS = 765;
/** Framing tokens OpenAI's chat format adds per message (`<|start|>{role}…<|end|>`), besides the role itself. */
export const MESSAGE_OVERHEAD_TOKENS = 3;
/** Extra framing for a message that carries a `name`. */
export const NAME_OVERHEAD_TOKENS = 1;
/** Tokens that prime the assistant's reply (`<|start|>assistant<|message|>`). */
export const REPLY_PRIMING_TOKENS = 3;
/**
 * Framing around the tool definitions block. OpenAI renders tools into a hidden system
 * section whose exact shape is not published; counting the definitions' JSON text plus this
 * constant stays above the cookbook's published formula on the bench sample.
 */
export const TOOLS_OVERHEAD_TOKENS = 12;

/** A chat message as the counter reads it: any shape, unknown fields ignored. */
export interface PromptMessage {
  role?: unknown;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
}

/** The parts of a chat request that reach the model's context. */
export interface Prompt {
  messages: readonly PromptMessage[];
  tools?: readonly unknown[] | null | undefined;
}

const IMAGE_PART_TYPES = new Set(["image_url", "input_image", "image"]);

function scale(kind: TokenizerKind, tokens: number): number {
  return kind === TokenizerKinds.approximate ? Math.ceil(tokens * APPROXIMATION_FACTOR) : tokens;
}

/**
 * The longest run of non-space (or of space) characters given to the BPE whole. Its merge loop
 * is superlinear in the length of one pre-token: 200,000 repeated `é` took about eight minutes
 * of one core, blocking the process, and fit in a 1 MiB request body. Longer runs — base64
 * blobs, repeated characters, never prose — are counted in slices of this many characters,
 * each slice boundary adding at most about one token to the exact count.
 */
export const MAX_BPE_RUN = 64;
const LONG_RUNS = new RegExp(`(\\S{${MAX_BPE_RUN + 1},}|\\s{${MAX_BPE_RUN + 1},})`, "u");

function bpeCount(kind: TokenizerKind, text: string): number {
  if (text.length === 0) return 0;
  const bpe = encoding(encodingNameOf(kind));
  // split with a capturing group: even entries are ordinary text, odd ones the long runs.
  const parts = text.split(LONG_RUNS);
  if (parts.length === 1) return bpe.count(text);
  let tokens = 0;
  for (const [i, part] of parts.entries()) {
    if (i % 2 === 0) {
      if (part.length > 0) tokens += bpe.count(part);
      continue;
    }
    for (let start = 0; start < part.length; ) {
      let end = Math.min(part.length, start + MAX_BPE_RUN);
      // Never cut a surrogate pair: half a character would count as a replacement character.
      if (end < part.length && /[\uDC00-\uDFFF]/.test(part[end]!)) end++;
      tokens += bpe.count(part.slice(start, end));
      start = end;
    }
  }
  return tokens;
}

/** Tokens of `text` for a model using `kind`. */
export function countTextTokens(kind: TokenizerKind, text: string): number {
  return scale(kind, bpeCount(kind, text));
}

function partText(part: Record<string, unknown>): string {
  if (typeof part.text === "string") return part.text;
  if (typeof part.input_text === "string") return part.input_text;
  return "";
}

/** Unscaled tokens of one message, framing included. */
function bpeMessage(kind: TokenizerKind, message: PromptMessage): number {
  let tokens = MESSAGE_OVERHEAD_TOKENS;
  if (typeof message.role === "string") tokens += bpeCount(kind, message.role);
  if (typeof message.name === "string") tokens += NAME_OVERHEAD_TOKENS + bpeCount(kind, message.name);
  const content = message.content;
  if (typeof content === "string") tokens += bpeCount(kind, content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part !== "object" || part === null) continue;
      const record = part as Record<string, unknown>;
      tokens +=
        typeof record.type === "string" && IMAGE_PART_TYPES.has(record.type)
          ? IMAGE_PART_TOKENS
          : bpeCount(kind, partText(record));
    }
  }
  if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
    tokens += bpeCount(kind, JSON.stringify(message.tool_calls));
  }
  return tokens;
}

/** Tokens one message adds to a prompt for a model using `kind`, framing included. */
export function countMessageTokens(kind: TokenizerKind, message: PromptMessage): number {
  return scale(kind, bpeMessage(kind, message));
}

/**
 * Prompt tokens of a chat request for a model using `kind`: every message with its framing
 * (OpenAI's documented 3 tokens per message, 1 more with a `name`, the role itself), a fixed
 * charge per image part, tool definitions as their JSON text plus a framing constant, and the
 * reply priming. For OpenAI encodings this is the provider's count up to the undocumented
 * rendering of tools; for `approximate` it is that cl100k count times {@link APPROXIMATION_FACTOR}.
 */
export function countPromptTokens(kind: TokenizerKind, prompt: Prompt): number {
  return scale(kind, bpePrompt(kind, prompt));
}

function bpePrompt(kind: TokenizerKind, prompt: Prompt): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of prompt.messages) tokens += bpeMessage(kind, message);
  if (prompt.tools && prompt.tools.length > 0) {
    tokens += TOOLS_OVERHEAD_TOKENS + bpeCount(kind, JSON.stringify(prompt.tools));
  }
  return tokens;
}

/**
 * {@link countPromptTokens} of one prompt for any tokenizer, running each encoding at most
 * once: routing asks for every candidate model, and `approximate` reuses the cl100k count.
 */
export function promptTokenCounter(prompt: Prompt): (kind: TokenizerKind) => number {
  const byEncoding = new Map<string, number>();
  return (kind) => {
    const name = encodingNameOf(kind);
    let tokens = byEncoding.get(name);
    if (tokens === undefined) {
      tokens = bpePrompt(kind, prompt);
      byEncoding.set(name, tokens);
    }
    return scale(kind, tokens);
  };
}

/**
 * The longest prefix of `text` (cut at a token boundary) that counts at most `maxTokens` for
 * `kind`; `text` itself when it fits.
 */
export function truncateToTokens(kind: TokenizerKind, text: string, maxTokens: number): string {
  const bpe = encoding(encodingNameOf(kind));
  const tokens = bpe.encode(text);
  // ceil(k × factor) ≤ max  ⇔  k ≤ max / factor, for the approximation.
  const keep =
    kind === TokenizerKinds.approximate
      ? Math.floor(maxTokens / APPROXIMATION_FACTOR)
      : Math.floor(maxTokens);
  if (tokens.length <= keep) return text;
  let prefix = bpe.decode(tokens.slice(0, Math.max(0, keep)));
  // A token can end inside a multi-byte character: drop the partial character.
  while (prefix.length > 0 && !text.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}
