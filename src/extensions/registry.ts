import { z } from "zod";
import { ExtensionStages } from "../routing/index.js";
import { findBuiltin } from "./builtins/index.js";
import { EXTENSION_CONTRACT_VERSION } from "./contract.js";
import type { BuiltinExtension } from "./types.js";

const token = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/**
 * One external extension version, as registered in the `bl_extensions` KV bucket under the
 * key `<name>.<version>`. Registering says "this version exists and may run in these
 * stages"; a tenant's pipeline decides whether and where it runs.
 */
export const extensionRegistrationSchema = z.object({
  name: token,
  version: token,
  /** Stages a pipeline may place it in. */
  stages: z.array(z.enum(ExtensionStages)).min(1),
  /** Contract version the service speaks. */
  contract: z.literal(EXTENSION_CONTRACT_VERSION).default(EXTENSION_CONTRACT_VERSION),
  description: z.string().max(500).optional(),
});
export type ExtensionRegistration = z.infer<typeof extensionRegistrationSchema>;

/** KV key of a registration: KV keys allow dots, subject tokens (name, version) do not. */
export function registrationKey(name: string, version: string): string {
  return `${name}.${version}`;
}

export type ResolvedExtension =
  | { kind: "builtin"; extension: BuiltinExtension }
  | { kind: "external"; registration: ExtensionRegistration };

/** Finds what runs for a pipeline step: a built-in, a registered external service, or nothing. */
export interface ExtensionResolver {
  resolve(name: string, version: string): ResolvedExtension | undefined;
}

/**
 * Resolution over a snapshot of registrations. Built-ins take precedence, so a registration
 * can never shadow `pii/v1` with a service of the same name.
 */
export function resolverOver(
  registrations: () => ReadonlyMap<string, ExtensionRegistration>,
): ExtensionResolver {
  return {
    resolve(name, version) {
      const builtin = findBuiltin(name, version);
      if (builtin !== undefined) return { kind: "builtin", extension: builtin };
      const registration = registrations().get(registrationKey(name, version));
      return registration === undefined ? undefined : { kind: "external", registration };
    },
  };
}

/** A resolver over a fixed list (tests, benchmarks, a single-process setup without KV). */
export function staticResolver(registrations: ExtensionRegistration[] = []): ExtensionResolver {
  const map = new Map(registrations.map((r) => [registrationKey(r.name, r.version), r]));
  return resolverOver(() => map);
}
