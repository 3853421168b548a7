/**
 * Who may connect to NATS and do what (docs/security.md): the permission tables of each role,
 * the NATS authority (operator, accounts, issued credentials) in the data directory, producer
 * credentials, revocation pushed through the system account, and the authentication a process
 * connects with.
 */
export type { CredentialRecord, IssuedCredential, NatsAuthority } from "./authority.js";
export {
  adminCredsPath,
  authorityDir,
  hasAuthority,
  mintCredential,
  openAuthority,
  revokeCredential,
  serverAuthConfig,
  writeSecretFile,
} from "./authority.js";
export type { ConnectionAuth, NatsCredentialSettings } from "./connection-auth.js";
export { authFromCreds, authFromCredsFile, authFromSettings } from "./connection-auth.js";
export type { Grant, NatsRole, PermissionScope, SubjectPermissions } from "./permissions.js";
export {
  compileGrants,
  DURABLES,
  NATS_ROLES,
  permissionsFor,
  producerPermissions,
  ROLE_GRANTS,
  TENANT_SCOPED_ROLES,
} from "./permissions.js";
export { mintProducerCredentials, revokeNatsUser } from "./producers.js";
export { CLAIMS_UPDATE_SUBJECT, pushAccountJwt } from "./push.js";
