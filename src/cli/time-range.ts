import { BeamlineError } from "../errors/index.js";

/** A time window of the log, both ends optional (open). */
export interface TimeRange {
  since?: Date;
  until?: Date;
}

/**
 * Parses `--since` / `--until` (ISO-8601 date or date-time; a date alone is midnight UTC).
 * Throws `BL_BAD_REQUEST` naming the option when a value is not a time or the window is empty.
 */
export function parseTimeRange(options: { since?: string; until?: string }): TimeRange {
  const range: TimeRange = {};
  if (options.since !== undefined) range.since = parseInstant("--since", options.since);
  if (options.until !== undefined) range.until = parseInstant("--until", options.until);
  if (range.since && range.until && range.since.getTime() > range.until.getTime()) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `--since ${options.since} is after --until ${options.until}: the window is empty`,
      { param: "since" },
    );
  }
  return range;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseInstant(option: string, value: string): Date {
  const time = ISO_INSTANT.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `${option} ${JSON.stringify(value)} is not an ISO-8601 time: use e.g. 2026-12-01 or 2026-12-01T09:30:00Z`,
      { param: option.slice(2) },
    );
  }
  return new Date(time);
}
