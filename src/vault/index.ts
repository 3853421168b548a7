/**
 * Content at rest (docs/security.md): the tenant data keys, the key provider that wraps them,
 * and the event codec that seals prompts and completions per tenant.
 */
export type { Sealed } from "./cipher.js";
export { KEY_BYTES, open, seal } from "./cipher.js";
export type { DataKeySource, OpenedEnvelope } from "./content-codec.js";
export { ContentCodec, contentDigest } from "./content-codec.js";
export type { KeyProvider, MasterKeySettings } from "./key-provider.js";
export { defaultMasterKeyFile, loadMasterKey, masterKeyProvider } from "./key-provider.js";
export type { DataKey, TenantKeysOptions } from "./tenant-keys.js";
export { TenantKeys } from "./tenant-keys.js";
