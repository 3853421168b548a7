import { BeamlineError } from "../errors/index.js";
import type { ProviderAdapter } from "./types.js";

/** The provider adapters of one router process, by name. */
export interface ProviderRegistry {
  /** The adapter named `name`; throws `BL_PROVIDER_UNAVAILABLE` when none is registered. */
  get(name: string): ProviderAdapter;
  has(name: string): boolean;
  /** Registered provider names, in registration order. */
  names(): string[];
  /**
   * Closes every adapter's connection pool, all of them even when some fail; rejects with an
   * AggregateError of the failures afterwards.
   */
  closeAll(): Promise<void>;
}

/** Builds the registry; two adapters with the same name are a configuration error (`BL_CONFIG_INVALID`). */
export function createProviderRegistry(adapters: ProviderAdapter[]): ProviderRegistry {
  const byName = new Map<string, ProviderAdapter>();
  const duplicates = new Set<string>();
  for (const adapter of adapters) {
    if (byName.has(adapter.name)) duplicates.add(adapter.name);
    byName.set(adapter.name, adapter);
  }
  if (duplicates.size > 0) {
    throw new BeamlineError(
      "BL_CONFIG_INVALID",
      `Provider names must be unique; registered more than once: ${[...duplicates].join(", ")}`,
    );
  }

  return {
    get(name) {
      const adapter = byName.get(name);
      if (adapter === undefined) {
        const known = byName.size > 0 ? [...byName.keys()].join(", ") : "none";
        throw new BeamlineError(
          "BL_PROVIDER_UNAVAILABLE",
          `No provider named "${name}" is configured (configured: ${known}); add it to the providers configuration or fix the model catalog`,
        );
      }
      return adapter;
    },
    has: (name) => byName.has(name),
    names: () => [...byName.keys()],
    async closeAll() {
      const results = await Promise.allSettled([...byName.values()].map((adapter) => adapter.close()));
      const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
      if (failures.length > 0)
        throw new AggregateError(failures, `${failures.length} provider(s) failed to close`);
    },
  };
}
