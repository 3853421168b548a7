import { type MsgHdrs, MsgHdrsImpl } from "@nats-io/transport-node";

/** A CR or LF in a value would end its header line and start another: never sent. */
const LINE_BREAK = /[\r\n]/;

/**
 * Headers to publish, built in one step from names and values. nats.js's `append` and `set`
 * re-case and check each name, list every name already present and build a regular
 * expression per value; for the events of one request that was 7 % of all the bytes the
 * router allocated (bench/RESULTS.md, "Session 13"). `MsgHdrsImpl.fromRecord` takes the
 * headers as given, so the one check a value passed on from elsewhere needs (a trace context,
 * a tenant id) is made here, and values are trimmed as nats.js trims them, so what is stored
 * is byte for byte what `append` stored. Names are Beamline's own constants.
 */
export function outgoingHeaders(entries: Readonly<Record<string, string>>): MsgHdrs {
  const record: Record<string, string[]> = {};
  for (const name in entries) {
    const value = entries[name]!;
    if (LINE_BREAK.test(value)) {
      throw new TypeError(`header ${name} holds a line break, which NATS headers cannot carry`);
    }
    record[name] = [value.trim()];
  }
  return MsgHdrsImpl.fromRecord(record);
}
