export type { Prompt, PromptMessage } from "./count.js";
export {
  APPROXIMATION_FACTOR,
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  IMAGE_PART_TOKENS,
  MAX_BPE_RUN,
  MESSAGE_OVERHEAD_TOKENS,
  NAME_OVERHEAD_TOKENS,
  promptTokenCounter,
  REPLY_PRIMING_TOKENS,
  TOOLS_OVERHEAD_TOKENS,
  truncateToTokens,
} from "./count.js";
export type { EncodingName, TokenizerKind } from "./tokenizers.js";
export {
  encodingNameOf,
  loadEncodingsFor,
  loadedEncodings,
  TokenizerKinds,
  tokenizerFor,
} from "./tokenizers.js";
