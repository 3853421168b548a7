import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import { type NatsAuthority, systemCredsOf } from "./authority.js";
import { authFromCredsFile } from "./connection-auth.js";

/** The system-account subject a `full` account resolver takes account JWT updates on. */
export const CLAIMS_UPDATE_SUBJECT = "$SYS.REQ.CLAIMS.UPDATE";

/**
 * Pushes the authority's current application-account JWT (with its revocations) to the
 * server over a system-account connection. The server stores it in its resolver directory,
 * refuses the revoked users from then on and closes their open connections.
 */
export async function pushAccountJwt(authority: NatsAuthority, servers: string | string[]): Promise<void> {
  const auth = await authFromCredsFile(systemCredsOf(authority));
  let nc: NatsConnection;
  try {
    nc = await connect({ servers, authenticator: auth.authenticator, timeout: 5_000, reconnect: false });
  } catch (error) {
    throw new BeamlineError(
      "BL_NATS_UNAVAILABLE",
      `cannot reach NATS to push the account update: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  try {
    const reply = await nc.request(CLAIMS_UPDATE_SUBJECT, new TextEncoder().encode(authority.accountJwt), {
      timeout: 5_000,
    });
    const body = reply.json<{ error?: { code?: number; description?: string } }>();
    if (body.error) {
      throw new BeamlineError(
        "BL_NATS_AUTH",
        `the server refused the account update: ${body.error.description ?? JSON.stringify(body.error)}`,
      );
    }
  } finally {
    await nc.close();
  }
}
