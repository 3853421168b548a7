import { type IssuedCredential, mintCredential, type NatsAuthority, revokeCredential } from "./authority.js";
import { producerPermissions } from "./permissions.js";
import { pushAccountJwt } from "./push.js";

/**
 * NATS credentials of one producer (issue 14 §2), for `beamline producers issue`. The user may
 * publish only `bl.in.<tenant>.<producerId>.>` and subscribe only to its own inbox prefix
 * (`record.inboxPrefix`, which the client must pass as `inboxPrefix`; a creds file minted here
 * is recognised by Beamline's own clients) and to `bl.live.<producerId>.>`, its replies. With
 * `readUsage` it may also read its tenant's usage records (`bl.usage.<tenant>.>`) through a
 * filtered ordered consumer. The record (never the secret) is kept in the authority; the
 * returned `creds` is shown once.
 */
export async function mintProducerCredentials(
  authority: NatsAuthority,
  tenant: string,
  producerId: string,
  options: { readUsage?: boolean } = {},
): Promise<IssuedCredential> {
  return mintCredential(authority, {
    roles: ["producer"],
    tenant,
    producerId,
    permissions: (inboxPrefix) =>
      producerPermissions({ tenant, producerId, inboxPrefix, readUsage: options.readUsage ?? false }),
  });
}

/**
 * Revokes a NATS user by public key (or credential id) and, when `servers` is given, pushes the
 * account update so the server refuses it and closes its connections within seconds. Without
 * `servers` (the embedded server is stopped) the revocation applies at the server's next start.
 */
export async function revokeNatsUser(
  authority: NatsAuthority,
  publicKey: string,
  servers?: string | string[],
): Promise<void> {
  await revokeCredential(authority, publicKey);
  if (servers) await pushAccountJwt(authority, servers);
}
