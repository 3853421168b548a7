/**
 * The notary role (docs/audit.md, "Tamper evidence"): follows every stream and writes signed
 * checkpoints to BL_AUDIT; and its Ed25519 key, which `beamline audit` also reads.
 */
export type { NotaryKey, NotaryKeySettings } from "./key.js";
export { defaultKeyFile, loadNotaryKey, publicKeyPem, readPublicKeyFile } from "./key.js";
export { notarisedOf } from "./messages.js";
export type { NotaryOptions, RunningNotary } from "./notary.js";
export { NOTARISED_STREAMS, readLastCheckpoint, startNotary } from "./notary.js";
