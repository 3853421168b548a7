import { DECIDED_FIELDS, type RouteDecision } from "../src/routing/index.js";

/** One leaf where a recorded decision and its recomputation disagree. */
export interface FieldDifference {
  /** Where, from the decision's root: `candidates[0].model`, `excluded[2].reason`, `policyVersion`. */
  path: string;
  /** The recorded value; undefined when only the recomputation has the field. */
  recorded: unknown;
  /** The recomputed value; undefined when only the recording has the field. */
  recomputed: unknown;
}

/**
 * Every leaf path at which `recomputed` differs from `recorded` over the routing engine's `DECIDED_FIELDS`,
 * in a stable order (field order above, then array index, then sorted object keys). Values are
 * compared as JSON, because the recorded side went through the event codec (no undefined keys).
 */
export function diffDecision(recorded: RouteDecision, recomputed: RouteDecision): FieldDifference[] {
  const differences: FieldDifference[] = [];
  for (const field of DECIDED_FIELDS) {
    diffValue(field, asJson(recorded[field]), asJson(recomputed[field]), differences);
  }
  return differences;
}

function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function diffValue(path: string, a: unknown, b: unknown, out: FieldDifference[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) diffValue(`${path}[${i}]`, a[i], b[i], out);
    return;
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) diffValue(`${path}.${key}`, a[key], b[key], out);
    return;
  }
  if (a !== b) out.push({ path, recorded: a, recomputed: b });
}
