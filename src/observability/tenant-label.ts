import { createHmac } from "node:crypto";

/** How the `tenant` label of Beamline's metrics is written (`BEAMLINE_METRICS_TENANT_LABEL`). */
export const TenantLabelModes = {
  /** The tenant id itself. */
  on: "on",
  /** A short keyed hash of the tenant id: stable per deployment, meaningless without the key. */
  hashed: "hashed",
  /** No `tenant` label at all: the series are summed over tenants. */
  off: "off",
} as const;
export type TenantLabelMode = (typeof TenantLabelModes)[keyof typeof TenantLabelModes];

/**
 * The label value of every tenant past the cap. Tenant ids are `A-Z a-z 0-9 _ -` and hashes
 * are hex, so no tenant can be mistaken for it.
 */
export const OTHER_TENANTS_LABEL = "(other)";

/** Hex characters of a hashed label: 48 bits, no collision to expect among the capped tenants. */
const HASHED_LABEL_LENGTH = 12;

export interface TenantLabelOptions {
  mode: TenantLabelMode;
  /**
   * Distinct label values this process hands out; the tenants seen after that share
   * {@link OTHER_TENANTS_LABEL}. Bounds the series (and the memory) a flood of tenants
   * can create, whatever the mode.
   */
  limit: number;
  /** HMAC key of the `hashed` mode; required there, ignored otherwise. */
  hashKey?: string | undefined;
}

/**
 * Maps tenant ids to `tenant` label values. `undefined` means "no tenant label" (mode `off`).
 * The first `limit` tenants a process sees keep their own value for the life of the process.
 */
export interface TenantLabeller {
  readonly mode: TenantLabelMode;
  label(tenant: string): string | undefined;
}

export function createTenantLabeller(options: TenantLabelOptions): TenantLabeller {
  const { mode, limit, hashKey } = options;
  if (mode === "off") return { mode, label: () => undefined };
  if (mode === "hashed" && !hashKey) {
    throw new TypeError("the hashed tenant label needs a hash key");
  }
  const labelValue =
    mode === "hashed"
      ? (tenant: string) =>
          createHmac("sha256", hashKey as string)
            .update(tenant)
            .digest("hex")
            .slice(0, HASHED_LABEL_LENGTH)
      : (tenant: string) => tenant;
  const assigned = new Map<string, string>();
  return {
    mode,
    label(tenant) {
      const known = assigned.get(tenant);
      if (known !== undefined) return known;
      if (assigned.size >= limit) return OTHER_TENANTS_LABEL;
      const value = labelValue(tenant);
      assigned.set(tenant, value);
      return value;
    },
  };
}
