/**
 * Tenant-supplied regexes run on every request, in the worker's thread, on a backtracking
 * engine: one catastrophic pattern (`(a+)+$`) could stall the worker for minutes. A timeout
 * cannot interrupt a running `RegExp`, so instead patterns are restricted, when the policy is
 * read, to a subset whose matching time is polynomial and small:
 * - at most {@link MAX_PATTERN_LENGTH} characters;
 * - no backreferences (`\1`, `\k<name>`) and no lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`);
 * - no quantified group that itself contains a quantifier or an alternation
 *   (`(a+)+`, `(a|ab)*`, `(\w{2})+` are refused; `(abc)+`, `a+b*`, `(?:foo|bar)` are fine);
 * - flags limited to `i`, `u`, `s`, `m`.
 * Text scanned per check is bounded by the caller (see content-policy.ts).
 */
export const MAX_PATTERN_LENGTH = 256;

/** Returns why `pattern` is refused, or undefined when it is acceptable. */
export function unsafeRegexReason(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  if (/\\[1-9]|\\k</.test(pattern)) return "backreferences are not allowed";
  if (/\(\?<?[=!]/.test(pattern)) return "lookaround is not allowed";
  try {
    new RegExp(pattern, "u");
  } catch (error) {
    return `invalid: ${(error as Error).message}`;
  }
  // Walk the groups: for each, remember whether its body holds a quantifier or '|'.
  const stack: { risky: boolean }[] = [];
  let lastGroupRisky = false;
  let inClass = false;
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern.charAt(i);
    if (ch === "\\") {
      i += 1;
      lastGroupRisky = false;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      lastGroupRisky = false;
      continue;
    }
    if (ch === "(") {
      stack.push({ risky: false });
      continue;
    }
    const quantifier = ch === "*" || ch === "+" || ch === "?" || ch === "{";
    if (ch === ")") {
      const group = stack.pop();
      lastGroupRisky = group?.risky ?? false;
      const parent = stack.at(-1);
      if (parent !== undefined && lastGroupRisky) parent.risky = true;
      continue;
    }
    if (quantifier) {
      // `?` right after `(` is group syntax, `??`/`+?` lazy markers: neither repeats more.
      const prev = pattern.charAt(i - 1);
      const isGroupSyntax = ch === "?" && prev === "(";
      if (!isGroupSyntax && prev !== "?" && lastGroupRisky && prev === ")") {
        return "a repeated group may not contain a quantifier or '|' (catastrophic backtracking)";
      }
      const current = stack.at(-1);
      if (current !== undefined && !isGroupSyntax) current.risky = true;
      lastGroupRisky = false;
      continue;
    }
    if (ch === "|") {
      const current = stack.at(-1);
      if (current !== undefined) current.risky = true;
    }
    lastGroupRisky = false;
  }
  return undefined;
}
