import type { NatsConnection } from "@nats-io/transport-node";
import type { BeamlineConfig } from "../config/index.js";
import type { ContentMode } from "../events/index.js";
import { type EventCodec, plainCodec } from "../nats/index.js";
import type { Logger } from "../observability/index.js";
import { ContentCodec, loadMasterKey, TenantKeys } from "../vault/index.js";

/** The store's codec and, with sealing on, the tenant keys behind it. */
export interface ContentAtRest {
  codec: EventCodec;
  keys: TenantKeys | undefined;
  /** The content codec, for readers that show what became of content (audit export, requests show). */
  content: ContentCodec | undefined;
}

/**
 * Sets up content at rest from the configuration: the master key (generated into the data
 * directory on first start when `create` and none is configured), the tenant key bucket, and
 * the codec that seals per tenant. Logs where the key came from, never the key.
 */
export async function openContentAtRest(
  config: BeamlineConfig,
  nc: NatsConnection,
  options: { modeOf: (tenant: string) => ContentMode; create: boolean; log?: Logger },
): Promise<ContentAtRest> {
  const settings = config.contentAtRest;
  if (settings.sealing === "off") {
    options.log?.warn("content sealing is off: prompts and completions are stored in the clear");
    return { codec: plainCodec, keys: undefined, content: undefined };
  }
  const provider = await loadMasterKey(
    { key: settings.masterKey, keyFile: settings.masterKeyFile, dataDir: config.dataDir },
    { create: options.create },
  );
  options.log?.info({ masterKeySource: provider?.source ?? "(none)" }, "content sealing is on");
  const keys = await TenantKeys.open(nc, provider, {
    cacheMaxEntries: settings.keyCacheMaxEntries,
    cacheTtlMs: settings.keyCacheTtlMs,
  });
  const content = new ContentCodec(keys, options.modeOf);
  return { codec: content, keys, content };
}

/**
 * For operator commands that show content (`requests show`, `audit export`): opens sealed
 * content with the master key when this machine has one (BEAMLINE_MASTER_KEY, the key file,
 * or the data directory's), and otherwise reports it as `encrypted` or `erased`. Never
 * generates a key.
 */
export async function contentOpener(
  config: BeamlineConfig,
  nc: NatsConnection,
): Promise<ContentCodec["openEnvelope"]> {
  const { content } = await openContentAtRest(config, nc, { modeOf: () => "encrypted", create: false });
  if (content) return (envelope) => content.openEnvelope(envelope);
  return async (envelope) => ({ envelope, content: undefined });
}
