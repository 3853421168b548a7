import type { NatsConnection } from "@nats-io/transport-node";
import { adminCredsPath, authFromCredsFile, authFromSettings } from "../access/index.js";
import type { BeamlineConfig } from "../config/index.js";
import { BeamlineError } from "../errors/index.js";
import { connectNats } from "../nats/index.js";
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
  return connectNats({ servers: url.split(","), name: `beamline-cli-${name}`, ...auth });
}
