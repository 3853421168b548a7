import { BeamlineError } from "../errors/index.js";
import type { ApiKeyCache } from "../tenancy/index.js";
import { hashApiKey } from "../tenancy/index.js";

export interface Principal {
  tenant: string;
  apiKeyId: string;
}

/** The key from `Authorization: Bearer <key>` (or `x-api-key`, as Anthropic's API takes it). */
export function extractApiKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers["authorization"];
  if (typeof authorization === "string") {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" && apiKey.length > 0 ? apiKey : undefined;
}

/** Resolves a key to its tenant; the key itself never leaves this function (only its hash). */
export function authenticate(key: string | undefined, keys: ApiKeyCache): Principal {
  if (!key) {
    throw new BeamlineError(
      "BL_MISSING_API_KEY",
      "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
    );
  }
  const record = keys.lookup(hashApiKey(key));
  if (!record || record.status !== "active") {
    throw new BeamlineError("BL_INVALID_API_KEY", "Incorrect API key provided.");
  }
  return { tenant: record.tenant, apiKeyId: record.keyId };
}
