import type { NatsConnection } from "@nats-io/transport-node";
import { adminCredsPath, authFromCredsFile, authFromSettings } from "../access/index.js";
import type { BeamlineConfig } from "../config/index.js";
import { BeamlineError } from "../errors/index.js";
import { connectNats, EventSigner, EventStore, loadEventSigningKey } from "../nats/index.js";
import { runningEmbeddedNatsUrl } from "../runtime/index.js";

/**
 * The NATS an operator command talks to: NATS_URL (with NATS_CREDS, NATS_USER/NATS_PASSWORD or
 * NATS_TOKEN when set), else the embedded server of a Beamline running from this folder, as the
 * data directory's admin. Commands never start a server of their own.
 */
export async function connectForCommand(config: BeamlineConfig, name: string): Promise<NatsConnection> {
  const url = config.natsUrl ?? (await runningEmbeddedNatsUrl(config.dataDir));
  if (!url) {
    throw new BeamlineError(
      "BL_NATS_UNAVAILABLE",
      "no NATS to talk to: set NATS_URL, or start Beamline (`npm start`) so its embedded nats-server is running",
    );
  }
  const auth = config.natsUrl
    ? await authFromSettings(config)
    : await authFromCredsFile(adminCredsPath(config.dataDir));
  return connectNats({
    servers: url.split(","),
    name: `beamline-cli-${name}`,
    ...auth,
    // An external NATS may still be starting (a one-shot compose service runs beside it).
    firstConnectWaitMs: config.natsUrl ? config.natsConnectWaitMs : 0,
  });
}

/**
 * An event store for commands that write configuration (tenants, keys, producers, policies,
 * catalogs): signed with the deployment's event signing key, which projectors require. The key
 * is BEAMLINE_EVENT_SIGNING_KEY or the one a Beamline started from this folder generated; a
 * command never generates one (its events would count nowhere). Throws
 * `BL_EVENT_SIGNING_KEY_INVALID` when there is none.
 */
export async function signedStoreForCommand(config: BeamlineConfig, nc: NatsConnection): Promise<EventStore> {
  const key = await loadEventSigningKey(
    { key: config.eventSigning.key, since: config.eventSigning.since, dataDir: config.dataDir },
    { create: false, now: new Date() },
  );
  return new EventStore(nc, { signer: new EventSigner(key) });
}
