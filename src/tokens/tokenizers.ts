import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { BytePairEncoding } from "./byte-pair-encoding.js";

/**
 * Which tokenizer counts a model's tokens. OpenAI publishes the byte-pair encodings of its
 * chat models (`o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the o-series;
 * `cl100k_base` for gpt-4 and gpt-3.5), so for those the count is the provider's own.
 * Anthropic, Google and everyone else publish no tokenizer for their current models: those
 * get `approximate`, a deliberate over-estimate (see `APPROXIMATION_FACTOR` in count.ts).
 */
export const TokenizerKinds = {
  o200k: "o200k_base",
  cl100k: "cl100k_base",
  approximate: "approximate",
} as const;
export type TokenizerKind = (typeof TokenizerKinds)[keyof typeof TokenizerKinds];

/** Providers whose models never use an OpenAI encoding, whatever the model is called. */
const NON_OPENAI_PROVIDERS = new Set(["anthropic", "gemini", "google", "vertex"]);

const O200K_MODEL = /^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4)(\b|-|$)/;
const CL100K_MODEL = /^(gpt-4|gpt-3\.5|gpt-35)(\b|-|$)/;

/**
 * The tokenizer of a catalog model, by its provider and upstream model id. The model id
 * decides for OpenAI families wherever they are hosted (a proxy or Azure deployment of
 * gpt-4o still tokenizes with o200k); a leading `vendor/` path (`openai/gpt-4o`) is ignored.
 */
export function tokenizerFor(model: { provider: string; upstreamModel: string }): TokenizerKind {
  if (NON_OPENAI_PROVIDERS.has(model.provider)) return TokenizerKinds.approximate;
  const name = model.upstreamModel.toLowerCase().replace(/^.*\//, "");
  if (O200K_MODEL.test(name)) return TokenizerKinds.o200k;
  if (CL100K_MODEL.test(name)) return TokenizerKinds.cl100k;
  return TokenizerKinds.approximate;
}

/** The part of an encoding the counter uses. */
export interface Encoding {
  encode(text: string): number[];
  count(text: string): number;
  decode(tokens: readonly number[]): string;
}

const require = createRequire(import.meta.url);
/** The byte-pair encodings the counter uses. */
export type EncodingName = "o200k_base" | "cl100k_base";

/**
 * The pre-token pattern of each encoding: the published ones, as gpt-tokenizer exports them
 * (a module of constants, loaded without any encoding).
 */
function pretokenPattern(name: EncodingName): RegExp {
  const patterns = require("gpt-tokenizer/cjs/encodingParams/constants") as Record<string, RegExp>;
  const pattern = patterns[name === "o200k_base" ? "O200K_TOKEN_SPLIT_REGEX" : "CL100K_TOKEN_SPLIT_REGEX"];
  if (!(pattern instanceof RegExp)) throw new Error(`no pre-token pattern for ${name}`);
  return pattern;
}

const encodings = new Map<EncodingName, Encoding>();

/**
 * The encoding by name, loaded on first use and kept for the life of the process: loading
 * one reads its ranks file (about 0.08 s of CPU for cl100k, 0.13 s for o200k), which a process
 * that never counts tokens of that family should not pay at start-up.
 */
export function encoding(name: EncodingName): Encoding {
  let loaded = encodings.get(name);
  if (!loaded) {
    const ranks = readFileSync(require.resolve(`gpt-tokenizer/data/${name}.tiktoken`), "latin1");
    loaded = BytePairEncoding.fromTiktoken(ranks, pretokenPattern(name));
    encodings.set(name, loaded);
  }
  return loaded;
}

/** The byte-pair encoding behind a tokenizer: `approximate` scales the `cl100k_base` count. */
export function encodingNameOf(kind: TokenizerKind): EncodingName {
  // cl100k's smaller vocabulary already counts more tokens than o200k on code and non-English
  // text, so it is the safer base for the approximation.
  return kind === TokenizerKinds.o200k ? "o200k_base" : "cl100k_base";
}

/** The encodings loaded so far in this process, in load order (for tests and diagnostics). */
export function loadedEncodings(): EncodingName[] {
  return [...encodings.keys()];
}

/**
 * Loads now the encodings that `models` count with, and no other, for processes that count
 * tokens on their hot path (the gateway, the request worker) so that their first request does
 * not stall on a load (about 0.08 s of CPU for cl100k, 0.13 s for o200k, synchronously).
 * Each encoding costs memory for the life of the process (measured in a bare process: +12 MB
 * RSS for cl100k, +13 MB for o200k, most of it the young generation grown by the load), so an
 * encoding no configured model needs is never loaded here; a model added later loads its
 * encoding on its first count.
 */
export function loadEncodingsFor(
  models: Iterable<{ provider: string; upstreamModel: string }>,
): EncodingName[] {
  const names = new Set<EncodingName>();
  for (const model of models) names.add(encodingNameOf(tokenizerFor(model)));
  for (const name of names) encoding(name);
  return [...names];
}
