import type { BuiltinExtension } from "../types.js";
import { contentPolicyV1 } from "./content-policy.js";
import { normalizeV1 } from "./normalizer.js";
import { piiV1 } from "./pii/extension.js";
import { limitV1 } from "./response-limiter.js";

/** Extensions that run in the worker, by `name/version`. They need no registration. */
export const BuiltinExtensions: ReadonlyMap<string, BuiltinExtension> = new Map(
  ([piiV1, contentPolicyV1, normalizeV1, limitV1] as BuiltinExtension[]).map((ext) => [
    `${ext.name}/${ext.version}`,
    ext,
  ]),
);

export function findBuiltin(name: string, version: string): BuiltinExtension | undefined {
  return BuiltinExtensions.get(`${name}/${version}`);
}

export { contentPolicyV1, limitV1, normalizeV1, piiV1 };
