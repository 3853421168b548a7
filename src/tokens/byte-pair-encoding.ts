/**
 * A byte-pair encoding held compactly: every token's bytes in one buffer, and an
 * open-addressing hash table from bytes to rank in one typed array. The published encodings
 * are loaded from their `.tiktoken` files (one `base64(bytes) rank` line per token).
 *
 * Why our own and not gpt-tokenizer's encoder (which it replaced in session 13): that one keeps
 * a `Map` from each token's text to its rank and the ranks as a JavaScript array literal, which
 * V8 must parse and keep: about 7.5 MB of heap and 34–37 MB of RSS for cl100k (14 MB and 72 MB
 * for o200k), the largest single part of an idle router's memory. Held here, cl100k takes about
 * 2 MB, outside the heap. The pre-token patterns and the test plans still come from
 * gpt-tokenizer, so the counts are the same (test/unit/tokens-encoding.test.ts).
 */

/** FNV-1a over `bytes[start, end)`: cheap, and spreads short byte strings well. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

const NO_RANK = -1;
/** Merged pre-tokens remembered per encoding (a few hundred bytes each). */
const MERGED_REMEMBERED = 4_096;
/** Larger than every rank: a pair that is no token never merges. */
const NEVER = 0x7fffffff;
const utf8 = new TextDecoder();

export class BytePairEncoding {
  /** Bytes of every token, by rank: `tokenBytes[offsets[r], offsets[r + 1])`. */
  private readonly tokenBytes: Uint8Array;
  private readonly offsets: Uint32Array;
  /** Rank + 1 at each slot (0: empty), linear probing. */
  private readonly slots: Int32Array;
  private readonly slotMask: number;

  /** Own copy of the pre-token pattern: its `lastIndex` is this encoder's alone. */
  private readonly pretokens: RegExp;
  /** UTF-8 bytes of the pre-token being encoded; grown when a longer one comes. */
  private scratch: Buffer = Buffer.alloc(256);
  /**
   * Tokens of pre-tokens that needed merging, by text: prose repeats its words, and a merge
   * costs tens of lookups. Emptied when full, so it stays under about a megabyte.
   */
  private readonly merged = new Map<string, readonly number[]>();

  private constructor(tokenBytes: Uint8Array, offsets: Uint32Array, pretokens: RegExp) {
    this.pretokens = new RegExp(pretokens.source, pretokens.flags);
    this.tokenBytes = tokenBytes;
    this.offsets = offsets;
    const count = offsets.length - 1;
    let capacity = 1;
    while (capacity < count * 2) capacity <<= 1;
    this.slots = new Int32Array(capacity);
    this.slotMask = capacity - 1;
    for (let rank = 0; rank < count; rank++) {
      let slot = hashOf(tokenBytes, offsets[rank]!, offsets[rank + 1]!) & this.slotMask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.slotMask;
      this.slots[slot] = rank + 1;
    }
  }

  /**
   * Reads a `.tiktoken` file's text (latin1 or UTF-8: base64 and digits only) whose ranks run
   * 0, 1, 2… in line order, as every published encoding's do. `pretokens` splits text into the
   * pieces merged separately (a global, Unicode regular expression). Throws on anything else.
   */
  static fromTiktoken(text: string, pretokens: RegExp): BytePairEncoding {
    if (!pretokens.global) throw new Error("the pre-token pattern must be global");
    let lines = 0;
    for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) lines++;
    if (!text.endsWith("\n") && text.length > 0) lines++;
    // Base64 decodes to at most three bytes per four characters.
    const tokenBytes = Buffer.alloc(Math.ceil((text.length * 3) / 4));
    const offsets = new Uint32Array(lines + 1);
    let written = 0;
    let rank = 0;
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      if (end > start) {
        const space = text.indexOf(" ", start);
        if (space < 0 || space > end || Number(text.slice(space + 1, end)) !== rank) {
          throw new Error(`line ${rank + 1} is not "<base64> ${rank}"`);
        }
        offsets[rank] = written;
        written += tokenBytes.write(text.slice(start, space), written, "base64");
        rank++;
      }
      start = end + 1;
    }
    offsets[rank] = written;
    // Copied to their exact length, so the over-allocation above is not kept.
    return new BytePairEncoding(
      Uint8Array.prototype.slice.call(tokenBytes, 0, written),
      offsets.slice(0, rank + 1),
      pretokens,
    );
  }

  /** Tokens in the encoding. */
  get size(): number {
    return this.offsets.length - 1;
  }

  /** The rank of `bytes[start, end)` as one token, or {@link NO_RANK}. */
  private rankOf(bytes: Uint8Array, start: number, end: number): number {
    const length = end - start;
    let slot = hashOf(bytes, start, end) & this.slotMask;
    for (;;) {
      const entry = this.slots[slot]!;
      if (entry === 0) return NO_RANK;
      const rank = entry - 1;
      const from = this.offsets[rank]!;
      if (this.offsets[rank + 1]! - from === length) {
        let i = 0;
        while (i < length && this.tokenBytes[from + i] === bytes[start + i]) i++;
        if (i === length) return rank;
      }
      slot = (slot + 1) & this.slotMask;
    }
  }

  /**
   * Splits one pre-token's bytes into tokens: starting from single bytes, merges the adjacent
   * pair that forms the lowest-ranked token until no pair forms one (the encodings' own rule).
   * Returns the token boundaries, `bounds[i]` to `bounds[i + 1]`.
   */
  private merge(bytes: Uint8Array): number[] {
    const bounds: number[] = [];
    for (let i = 0; i <= bytes.length; i++) bounds.push(i);
    // pairRanks[i]: rank of the token bounds[i]..bounds[i + 2] would make if merged.
    const pairRanks: number[] = [];
    const pairRank = (i: number) => {
      const rank = i + 2 < bounds.length ? this.rankOf(bytes, bounds[i]!, bounds[i + 2]!) : NO_RANK;
      return rank === NO_RANK ? NEVER : rank;
    };
    for (let i = 0; i + 2 < bounds.length; i++) pairRanks.push(pairRank(i));
    for (;;) {
      let lowest = NEVER;
      let at = -1;
      for (let i = 0; i < pairRanks.length; i++) {
        if (pairRanks[i]! < lowest) {
          lowest = pairRanks[i]!;
          at = i;
        }
      }
      if (at < 0) return bounds;
      bounds.splice(at + 1, 1);
      pairRanks.splice(at, 1);
      if (at < pairRanks.length) pairRanks[at] = pairRank(at);
      if (at > 0) pairRanks[at - 1] = pairRank(at - 1);
    }
  }

  /** Calls `each` with the token ids of `text`, in order. */
  private forEachToken(text: string, each: (rank: number) => void): void {
    const pattern = this.pretokens;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const piece = match[0];
      if (this.scratch.length < piece.length * 3) this.scratch = Buffer.alloc(piece.length * 3);
      const length = this.scratch.write(piece, 0, "utf8");
      // Most pre-tokens are one token.
      const whole = this.rankOf(this.scratch, 0, length);
      if (whole !== NO_RANK) {
        each(whole);
        continue;
      }
      let ranks = this.merged.get(piece);
      if (ranks === undefined) {
        const bytes = this.scratch.subarray(0, length);
        const bounds = this.merge(bytes);
        const list: number[] = [];
        for (let i = 0; i + 1 < bounds.length; i++) list.push(this.rankOf(bytes, bounds[i]!, bounds[i + 1]!));
        if (this.merged.size >= MERGED_REMEMBERED) this.merged.clear();
        this.merged.set(piece, list);
        ranks = list;
      }
      for (const rank of ranks) each(rank);
    }
  }

  /**
   * The token ids of `text`. Special-token text (`<|endoftext|>`…) is encoded as ordinary
   * text, as providers bill it: these encodings hold no special tokens.
   */
  encode(text: string): number[] {
    const tokens: number[] = [];
    this.forEachToken(text, (rank) => tokens.push(rank));
    return tokens;
  }

  /** How many tokens {@link encode} would give, without listing them. */
  count(text: string): number {
    let tokens = 0;
    this.forEachToken(text, () => tokens++);
    return tokens;
  }

  /** The text of `tokens`; bytes that end inside a character decode to U+FFFD. */
  decode(tokens: readonly number[]): string {
    let length = 0;
    for (const token of tokens) length += this.tokenLength(token);
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const token of tokens) {
      const from = this.offsets[token]!;
      const to = this.offsets[token + 1]!;
      bytes.set(this.tokenBytes.subarray(from, to), at);
      at += to - from;
    }
    return utf8.decode(bytes);
  }

  private tokenLength(token: number): number {
    if (!Number.isInteger(token) || token < 0 || token >= this.size) {
      throw new RangeError(`${token} is not a token of this encoding`);
    }
    return this.offsets[token + 1]! - this.offsets[token]!;
  }
}
