import { isIPv6 } from "node:net";

/**
 * PII detectors: one bounded regex per kind plus a validator (Luhn, mod-97, SSN ranges,
 * entropy). Pure: no I/O, no clock.
 *
 * Two properties the streaming masker relies on (see stream-masker.ts):
 * - every character of a match belongs to the kind's `alphabet`, and so does every character
 *   a lookahead reads past the match except the last one it reads (a one-character
 *   lookahead like `(?!\d)` may read any character; `(?![ .-]\d)` needs ` .-` in the alphabet);
 * - a match plus what its lookahead reads is at most `maxLength` long (bounded quantifiers).
 * Together they say: an attempt to match that starts before the trailing run of alphabet
 * characters, or more than `maxLength` before the end, cannot change when more text arrives,
 * so the streaming masker only holds back that tail.
 */

export const PiiKinds = ["email", "phone", "card", "iban", "ssn", "ipv4", "ipv6", "secret"] as const;
export type PiiKind = (typeof PiiKinds)[number];

export interface PiiDetector {
  kind: PiiKind;
  /** Global, sticky-free regex; bounded quantifiers only. */
  pattern: RegExp;
  /** Characters a match (and its lookahead) can consist of. */
  alphabet: RegExp;
  /** Longest possible match, in UTF-16 code units. */
  maxLength: number;
  /** Whether a regex match is really this kind (checksum, ranges, entropy). */
  accept(candidate: string): boolean;
}

/** Luhn checksum of a digit string, as payment card numbers carry it. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1. */
export function ibanValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    // Letters become two digits; fold them in one at a time to stay within a safe integer.
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

/** US SSNs never have area 000, 666 or 900-999, group 00 or serial 0000. */
export function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== "00" && serial !== "0000";
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

/** Known secret prefixes; each token runs until a character outside `[A-Za-z0-9_-]`. */
const SECRET_PREFIXES = [
  "sk-ant-[A-Za-z0-9_-]{20,200}", // Anthropic
  "sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,200}", // OpenAI
  "gh[pousr]_[A-Za-z0-9]{30,200}", // GitHub tokens
  "github_pat_[A-Za-z0-9_]{22,200}",
  "AKIA[0-9A-Z]{16}", // AWS access key id
  "xox[abposr]-[A-Za-z0-9-]{10,200}", // Slack
  "AIza[0-9A-Za-z_-]{35}", // Google API key
  "glpat-[A-Za-z0-9_-]{20,200}", // GitLab
  "[rs]k_(?:live|test)_[A-Za-z0-9]{16,200}", // Stripe
].join("|");

/** Long random-looking tokens: base64/base64url/hex-ish runs, judged by entropy. */
const TOKEN_CHARS = "A-Za-z0-9_\\-+/=";

export interface DetectorOptions {
  /** Minimum Shannon entropy (bits/char) of an unprefixed token to count as a secret. */
  secretEntropyBits: number;
  /** Minimum length of an unprefixed token to be judged by entropy. */
  secretMinLength: number;
}

export const defaultDetectorOptions: DetectorOptions = { secretEntropyBits: 3.5, secretMinLength: 32 };

function secretDetector(options: DetectorOptions): PiiDetector {
  const prefixed = new RegExp(`^(?:${SECRET_PREFIXES})$`);
  return {
    kind: "secret",
    pattern: new RegExp(`(?<![${TOKEN_CHARS}])[${TOKEN_CHARS}]{8,256}(?![${TOKEN_CHARS}])`, "g"),
    alphabet: new RegExp(`[${TOKEN_CHARS}]`),
    maxLength: 257,
    accept(candidate) {
      // Trailing '=' padding and '-' are part of tokens, but a prefix match must cover it all.
      if (prefixed.test(candidate)) return true;
      if (candidate.length < options.secretMinLength) return false;
      // Random tokens mix classes; prose, paths and hex digests mostly do not.
      if (!/[0-9]/.test(candidate) || !/[a-z]/.test(candidate) || !/[A-Z]/.test(candidate)) return false;
      return shannonEntropy(candidate) >= options.secretEntropyBits;
    },
  };
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";

/**
 * Detectors in priority order: where two matches start at the same place the earlier kind
 * wins (an IPv4 address also looks like a dotted phone number, a card like a phone).
 */
export function createDetectors(options: DetectorOptions = defaultDetectorOptions): PiiDetector[] {
  return [
    secretDetector(options),
    {
      kind: "email",
      pattern:
        /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g,
      alphabet: /[A-Za-z0-9._%+@-]/,
      maxLength: 64 + 1 + 8 * 64 + 24 + 2,
      accept: () => true,
    },
    {
      kind: "iban",
      pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g,
      alphabet: /[A-Z0-9 ]/,
      maxLength: 4 + 7 * 5 + 4 + 1,
      accept(candidate) {
        const compact = candidate.replaceAll(" ", "");
        return compact.length >= 15 && compact.length <= 34 && ibanValid(compact);
      },
    },
    {
      kind: "ssn",
      pattern: /(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])/g,
      alphabet: /[\d -]/,
      maxLength: 12,
      accept(candidate) {
        const [area = "", group = "", serial = ""] = candidate.split(/[- ]/);
        return ssnValid(area, group, serial);
      },
    },
    {
      kind: "ipv4",
      pattern: new RegExp(`(?<![\\w.])(?:${OCTET}\\.){3}${OCTET}(?![\\w]|\\.\\d)`, "g"),
      alphabet: /[\d.]/,
      maxLength: 17,
      accept: () => true,
    },
    {
      kind: "ipv6",
      pattern: /(?<![\w:.])[0-9A-Fa-f:.]{1,44}[0-9A-Fa-f](?![\w:]|\.\w)/g,
      alphabet: /[0-9A-Fa-f:.]/,
      maxLength: 47,
      accept: (candidate) =>
        (candidate.includes("::") || candidate.split(":").length >= 8) && isIPv6(candidate),
    },
    {
      kind: "card",
      pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d]|[ -]\d)/g,
      alphabet: /[\d -]/,
      maxLength: 19 + 18 + 2,
      accept(candidate) {
        const digits = candidate.replace(/[ -]/g, "");
        return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
      },
    },
    {
      kind: "phone",
      // International (+CC ...) or national numbers with separators; 10-15 digits in all.
      pattern:
        /(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w]|[ .-]\d)/g,
      alphabet: /[\d +().-]/,
      maxLength: 48,
      accept(candidate) {
        const digits = candidate.replace(/\D/g, "").length;
        return digits >= 10 && digits <= 15;
      },
    },
  ];
}

/** One detected value: `[start, end)` in the scanned text. */
export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
}

/** A regex match, accepted by its validator or not: both steer where the regex scans next. */
export interface PiiCandidate extends PiiMatch {
  accepted: boolean;
}

/**
 * Every regex match of the detectors in `text` from `from` on, validated, before overlap
 * resolution, in no particular order.
 */
export function findCandidates(text: string, detectors: readonly PiiDetector[], from = 0): PiiCandidate[] {
  const found: PiiCandidate[] = [];
  for (const detector of detectors) {
    detector.pattern.lastIndex = from;
    for (let m = detector.pattern.exec(text); m !== null; m = detector.pattern.exec(text)) {
      const accepted = detector.accept(m[0]);
      found.push({ kind: detector.kind, start: m.index, end: m.index + m[0].length, accepted });
    }
  }
  return found;
}

/**
 * Resolves overlaps: earliest start wins, then detector priority, then the longer match.
 * Deterministic, and decided left to right, so a prefix of the text resolves the same way
 * on its own as inside the whole text (as long as no match crosses the cut).
 */
export function resolveOverlaps(matches: PiiMatch[], detectors: readonly PiiDetector[]): PiiMatch[] {
  const priority = new Map(detectors.map((d, i) => [d.kind, i]));
  const sorted = [...matches].sort(
    (a, b) => a.start - b.start || (priority.get(a.kind) ?? 0) - (priority.get(b.kind) ?? 0) || b.end - a.end,
  );
  const kept: PiiMatch[] = [];
  let end = -1;
  for (const match of sorted) {
    if (match.start < end) continue;
    kept.push(match);
    end = match.end;
  }
  return kept;
}
