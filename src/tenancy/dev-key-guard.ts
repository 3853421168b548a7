import { isIP } from "node:net";
import { keyStateAt } from "../../projections/index.js";
import { BeamlineError } from "../errors/index.js";
import { DEV_TENANT } from "./bootstrap.js";
import type { ApiKeyCache } from "./key-cache.js";
import type { TenantCache } from "./tenant-cache.js";

/** The key ids `bootstrapDevTenant` issues (`key_dev_default`, `key_dev_<hash>`); operators' keys get others. */
const DEV_KEY_ID_PREFIX = "key_dev_";

/** Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || /^::ffff:127\./.test(bare);
  return false;
}

/** What the gateway does about the dev tenant's key, given where it listens. */
export type DevKeyPlan =
  /** Issue (or re-show) the dev key as on a laptop. */
  | "bootstrap"
  /** Issue nothing, and refuse to start if a dev key is still active (see {@link assertNoActiveDevKey}). */
  | "withhold";

function exposedError(host: string, detail: string): BeamlineError {
  return new BeamlineError(
    "BL_DEV_KEY_ON_NETWORK",
    `Refusing to start: the gateway would listen on ${host}, beyond loopback, while ${detail}. ` +
      "The dev key is printed at start and meant for a laptop. Listen on 127.0.0.1, or revoke the dev key " +
      "(`beamline keys revoke`) and unset BEAMLINE_DEV_KEY, or opt in with BEAMLINE_ALLOW_DEV_KEY_ON_NETWORK=true.",
  );
}

/**
 * Decides before anything is written whether the dev key may be issued. On loopback, or with
 * the opt-in, it is. Beyond loopback without the opt-in, a dev key fixed by `BEAMLINE_DEV_KEY`
 * is refused outright (`BL_DEV_KEY_ON_NETWORK`), and a generated one is not issued.
 */
export function planDevKey(options: {
  httpHost: string;
  devKeySet: boolean;
  allowOnNetwork: boolean;
}): DevKeyPlan {
  if (options.allowOnNetwork || isLoopbackHost(options.httpHost)) return "bootstrap";
  if (options.devKeySet) throw exposedError(options.httpHost, "BEAMLINE_DEV_KEY is set");
  return "withhold";
}

/**
 * Refuses (`BL_DEV_KEY_ON_NETWORK`) when a dev key issued by an earlier start is still usable:
 * not revoked or expired at `now`, and its tenant not disabled. Called once the key and tenant
 * views are loaded, before the gateway listens.
 */
export function assertNoActiveDevKey(
  httpHost: string,
  views: { keys: ApiKeyCache; tenants: TenantCache; now: Date },
): void {
  if (views.tenants.get(DEV_TENANT)?.status === "disabled") return;
  const active = [...views.keys.entries().values()]
    .filter((record) => record.tenant === DEV_TENANT && record.keyId.startsWith(DEV_KEY_ID_PREFIX))
    .filter((record) => {
      const state = keyStateAt(record, views.now);
      return state === "active" || state === "grace";
    })
    .map((record) => record.keyId);
  if (active.length > 0) {
    throw exposedError(httpHost, `the dev tenant's key ${active.join(", ")} is active`);
  }
}
