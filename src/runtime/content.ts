import type { NatsConnection } from "@nats-io/transport-node";
import type { BeamlineConfig } from "../config/index.js";
import { type ContentMode, type ContentState, type Envelope, splitContent } from "../events/index.js";
import { type EventCodec, isPermissionDenied, plainCodec } from "../nats/index.js";
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
  let content: ContentCodec | undefined;
  try {
    ({ content } = await openContentAtRest(config, nc, { modeOf: () => "encrypted", create: false }));
  } catch (error) {
    // A credential that may not read the tenant keys (a tenant-scoped auditor) still reads the
    // history: sealed content is reported as such, unopened.
    if (!isPermissionDenied(error)) throw error;
    return async (envelope) => ({ envelope, content: storedMode(envelope) });
  }
  if (!content) return async (envelope) => ({ envelope, content: undefined });
  // The key bucket is read on first use: a refusal then means the same as at opening.
  let keysReadable = true;
  return async (envelope) => {
    if (!keysReadable) return { envelope, content: storedMode(envelope) };
    try {
      return await content.openEnvelope(envelope);
    } catch (error) {
      if (!isPermissionDenied(error)) throw error;
      keysReadable = false;
      return { envelope, content: storedMode(envelope) };
    }
  };
}

/** How an event's content is stored, as far as the envelope tells without a key. */
function storedMode(envelope: Envelope): ContentState | undefined {
  const data = envelope.data as Record<string, unknown> | undefined;
  if (typeof data !== "object" || data === null) return undefined;
  const atRest = data["atRest"] as { mode?: ContentMode } | undefined;
  if (atRest?.mode) return atRest.mode;
  return splitContent(envelope.type, data) ? "clear" : undefined;
}
