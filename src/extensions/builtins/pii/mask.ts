import {
  findCandidates,
  type PiiCandidate,
  type PiiDetector,
  type PiiKind,
  type PiiMatch,
  resolveOverlaps,
} from "./detectors.js";

/**
 * `label` replaces a value with its kind (`[EMAIL]`); `partial` keeps a little for humans to
 * recognise it (the last 4 digits of a card, the domain of an e-mail) and masks the rest.
 */
export type MaskStyle = "label" | "partial";

/** How many values of each kind were masked: the only trace of PII an event may carry. */
export type MaskCounts = Partial<Record<PiiKind, number>>;

const LABELS: Record<PiiKind, string> = {
  email: "[EMAIL]",
  phone: "[PHONE]",
  card: "[CARD]",
  iban: "[IBAN]",
  ssn: "[SSN]",
  ipv4: "[IP]",
  ipv6: "[IP]",
  secret: "[SECRET]",
};

function keepLastDigits(value: string, keep: number): string {
  let toKeep = keep;
  let out = "";
  for (let i = value.length - 1; i >= 0; i -= 1) {
    const ch = value.charAt(i);
    if (/[0-9A-Za-z]/.test(ch)) {
      out = (toKeep > 0 ? ch : "*") + out;
      toKeep -= 1;
    } else {
      out = ch + out;
    }
  }
  return out;
}

/** The replacement of one detected value. */
export function maskValue(kind: PiiKind, value: string, style: MaskStyle): string {
  if (style === "label") return LABELS[kind];
  switch (kind) {
    case "email": {
      const at = value.indexOf("@");
      return `${value.charAt(0)}***${value.slice(at)}`;
    }
    case "card":
    case "iban":
    case "ssn":
      return keepLastDigits(value, 4);
    case "phone":
      return keepLastDigits(value, 2);
    case "secret":
      // A few characters of a secret still narrow a brute force; only its kind shows.
      return LABELS.secret;
    default:
      return LABELS[kind];
  }
}

function applyMasks(
  text: string,
  start: number,
  end: number,
  matches: PiiMatch[],
  style: MaskStyle,
  counts: MaskCounts,
) {
  let out = "";
  let at = start;
  for (const match of matches) {
    out += text.slice(at, match.start) + maskValue(match.kind, text.slice(match.start, match.end), style);
    at = match.end;
    counts[match.kind] = (counts[match.kind] ?? 0) + 1;
  }
  return out + text.slice(at, end);
}

/** Masks every detected value in `text`; `counts` (if given) is incremented per kind. */
export function maskText(
  text: string,
  detectors: readonly PiiDetector[],
  style: MaskStyle,
  counts: MaskCounts = {},
): string {
  const accepted = findCandidates(text, detectors).filter((c) => c.accepted);
  if (accepted.length === 0) return text;
  return applyMasks(text, 0, text.length, resolveOverlaps(accepted, detectors), style, counts);
}

/** Characters of already-emitted text kept so lookbehinds see what precedes the buffer. */
const LOOKBEHIND_CONTEXT = 2;

/**
 * Masks a text that arrives in pieces, emitting as early as it can while guaranteeing that
 * the concatenated output equals `maskText` of the concatenated input, whatever the split.
 *
 * It holds back the shortest tail that could still become (part of) a match: for each kind,
 * the trailing run of that kind's alphabet, capped at its `maxLength`; then moves the cut
 * back before any regex match that would straddle it. Everything before the cut is decided
 * exactly as the whole text would decide it (see the invariants in detectors.ts). In prose
 * the hold-back is a few dozen characters at most; `end()` flushes it.
 */
export class StreamMasker {
  private buffer = "";
  private context = "";
  readonly counts: MaskCounts = {};

  constructor(
    private readonly detectors: readonly PiiDetector[],
    private readonly style: MaskStyle,
  ) {}

  /** Feeds the next piece; returns the masked text that is safe to send now (maybe ""). */
  push(piece: string): string {
    this.buffer += piece;
    return this.emit(false);
  }

  /** The input ended: masks and returns whatever is still held. */
  end(): string {
    return this.emit(true);
  }

  /** Characters currently held back. */
  get heldLength(): number {
    return this.buffer.length;
  }

  private emit(final: boolean): string {
    if (this.buffer.length === 0) return "";
    const text = this.context + this.buffer;
    const from = this.context.length;
    let cut = final ? text.length : this.safeCut(text, from);
    if (cut <= from) return "";
    const candidates = findCandidates(text, this.detectors, from);
    if (!final) cut = pullCutBeforeStraddlers(candidates, cut, from);
    if (cut <= from) return "";
    const decided = candidates.filter((c) => c.accepted && c.end <= cut);
    const out = applyMasks(
      text,
      from,
      cut,
      resolveOverlaps(decided, this.detectors),
      this.style,
      this.counts,
    );
    this.context = text.slice(Math.max(0, cut - LOOKBEHIND_CONTEXT), cut);
    this.buffer = text.slice(cut);
    return out;
  }

  /** The earliest tail start, over all kinds, from which a match could still grow. */
  private safeCut(text: string, from: number): number {
    let cut = text.length;
    for (const detector of this.detectors) {
      let runStart = text.length;
      while (runStart > from && detector.alphabet.test(text.charAt(runStart - 1))) runStart -= 1;
      cut = Math.min(cut, Math.max(runStart, text.length - detector.maxLength));
    }
    return Math.max(cut, from);
  }
}

function pullCutBeforeStraddlers(candidates: PiiCandidate[], initialCut: number, from: number): number {
  let cut = initialCut;
  for (let moved = true; moved && cut > from; ) {
    moved = false;
    for (const c of candidates) {
      if (c.start < cut && c.end > cut) {
        cut = c.start;
        moved = true;
      }
    }
  }
  return cut;
}
