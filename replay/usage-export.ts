import type { NatsConnection } from "@nats-io/transport-node";
import {
  type BeamlineEvent,
  decodeEvent,
  isEvent,
  SubjectRoots,
  tenantUsageFilter,
} from "../src/events/index.js";
import { readStream, StreamNames } from "../src/nats/index.js";

/**
 * The usage stream for billing systems (docs/usage-stream.md): each `usage.recorded` as a
 * CloudEvents 1.0 event (structured JSON) or as the Beamline event itself, one per line.
 */

/** CloudEvents `type` of a Beamline usage record. */
export const USAGE_CLOUDEVENT_TYPE = "dev.beamline.usage.recorded.v1";

/**
 * The idempotency key of a usage record: `<tenant>:<requestId>:usage`. Unique per billed
 * request across tenants (a request id is unique within its tenant; `:` is in neither), and the
 * same however often the record is read, exported or redelivered.
 */
export function usageIdempotencyKey(event: BeamlineEvent): string {
  return `${event.tenant}:${event.requestId}:usage`;
}

/** A usage record as a CloudEvents 1.0 event in structured JSON mode. */
export interface UsageCloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: typeof USAGE_CLOUDEVENT_TYPE;
  subject: string;
  time: string;
  datacontenttype: "application/json";
  data: BeamlineEvent<"usage.recorded">["data"] & { requestId: string };
}

/**
 * Maps a usage record to CloudEvents: `id` the idempotency key, `source` the tenant's path in
 * Beamline, `subject` the tenant (OpenMeter's customer), `time` the record's time, `data` the
 * record's data with the request id.
 */
export function toUsageCloudEvent(event: BeamlineEvent<"usage.recorded">): UsageCloudEvent {
  return {
    specversion: "1.0",
    id: usageIdempotencyKey(event),
    source: `beamline/tenants/${event.tenant}`,
    type: USAGE_CLOUDEVENT_TYPE,
    subject: event.tenant,
    time: event.time,
    datacontenttype: "application/json",
    data: { ...event.data, requestId: event.requestId },
  };
}

export interface UsageExportOptions {
  tenant?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  onProgress?: (read: number, total: number) => void;
}

/** Usage records in stream order, streaming (one tenant's subjects only when `tenant` is given). */
export async function* readUsageRecords(
  nc: NatsConnection,
  options: UsageExportOptions = {},
): AsyncGenerator<{ seq: number; subject: string; event: BeamlineEvent<"usage.recorded"> }> {
  const filter = options.tenant ? tenantUsageFilter(options.tenant) : `${SubjectRoots.usage}.>`;
  for await (const message of readStream(nc, {
    stream: StreamNames.usage,
    filters: [filter],
    since: options.since,
    until: options.until,
    onProgress: options.onProgress,
  })) {
    const event = decodeEvent(message.data, message.headers);
    if (isEvent(event, "usage.recorded")) yield { seq: message.seq, subject: message.subject, event };
  }
}
