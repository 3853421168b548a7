import type { NatsConnection } from "@nats-io/transport-node";
import { readRequestHistory as readStoredHistory } from "../../replay/index.js";
import { readEvents as readStoredEvents, type StoredEvent } from "../../src/nats/index.js";
import { ContentCodec, masterKeyProvider, TenantKeys } from "../../src/vault/index.js";
import { TEST_MASTER_KEY } from "./cli.js";

const codecs = new WeakMap<NatsConnection, Promise<ContentCodec>>();

/** A content codec holding the test master key: what a test reads, it reads opened. */
export function testContentCodec(nc: NatsConnection): Promise<ContentCodec> {
  let codec = codecs.get(nc);
  if (!codec) {
    codec = TenantKeys.open(nc, masterKeyProvider(Buffer.from(TEST_MASTER_KEY, "base64"), "test"), {
      cacheMaxEntries: 100,
      cacheTtlMs: 60_000,
    }).then((keys) => new ContentCodec(keys, () => "encrypted"));
    codecs.set(nc, codec);
  }
  return codec;
}

/** One request's history with its content opened (sealed with the test master key). */
export async function readRequestHistory(
  nc: NatsConnection,
  tenant: string,
  requestId: string,
): Promise<StoredEvent[]> {
  return readStoredHistory(nc, tenant, requestId, await testContentCodec(nc));
}

/** Events under `filter` with their content opened (sealed with the test master key). */
export async function readEvents(nc: NatsConnection, stream: string, filter: string): Promise<StoredEvent[]> {
  return readStoredEvents(nc, stream, filter, await testContentCodec(nc));
}
