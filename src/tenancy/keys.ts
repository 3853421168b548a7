import { createHash, randomBytes } from "node:crypto";

/** API keys look like `bl-<43 url-safe base64 chars>` (256 random bits). */
export function generateApiKey(): string {
  return `bl-${randomBytes(32).toString("base64url")}`;
}

/** SHA-256 hex of a key: the only form in which keys are stored, projected or compared. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** First characters of a key, enough to recognise it in a listing and useless to an attacker. */
export function keyPrefix(key: string): string {
  return key.slice(0, 7);
}
