import { createHash } from "node:crypto";

/**
 * A point in [0, 1) fixed by `key`: the first 48 bits of its SHA-256. Deterministic across
 * processes and versions of Node, and uniform enough that weighted splits converge to their
 * weights over many keys.
 */
export function stickyPoint(key: string): number {
  const digest = createHash("sha256").update(key).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * Index of the bucket `point` falls in when [0, 1) is cut in slices proportional to
 * `weights` (all positive), in the given order.
 */
export function pickWeighted(weights: readonly number[], point: number): number {
  const total = weights.reduce((sum, w) => sum + w, 0);
  let upper = 0;
  for (let i = 0; i < weights.length; i++) {
    upper += (weights[i] as number) / total;
    if (point < upper) return i;
  }
  // Rounding can leave the running sum a hair under 1: the last bucket owns the remainder.
  return weights.length - 1;
}
