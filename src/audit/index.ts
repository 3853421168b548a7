/**
 * Tamper evidence, the pure part (docs/audit.md, "Tamper evidence"): the hash chain over a
 * stream's messages, signed checkpoints, and their verification. No NATS, no clock, no
 * randomness: the notary (src/notary) and `beamline audit verify` (replay/) feed it.
 */
export type { NotarisedMessage } from "./chain.js";
export {
  AUDIT_SUBJECT_ROOT,
  auditSubject,
  canonicalHeaders,
  chainStep,
  genesisHash,
  leafDigest,
  SHORT_DIGEST_BYTES,
} from "./chain.js";
export type { ChainPosition, CheckpointBody, SignedCheckpoint } from "./checkpoint.js";
export {
  CheckpointBuilder,
  canonicalBytes,
  canonicalJson,
  checkpointBodySchema,
  checkpointHash,
  checkpointSignatureValid,
  genesisPosition,
  keyIdOf,
  positionAfter,
  signCheckpoint,
  signedCheckpointSchema,
} from "./checkpoint.js";
export type { AuditFinding, FindingKind, RetentionFacts } from "./verify.js";
export { CheckpointChainVerifier, checkpointProblem, FindingKinds, RangeVerifier } from "./verify.js";
