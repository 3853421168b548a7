import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseTimeRange } from "../../src/cli/time-range.js";
import { BeamlineError } from "../../src/errors/index.js";

describe("--since / --until", () => {
  it("accepts dates and date-times, open at either end", () => {
    assert.deepEqual(parseTimeRange({}), {});
    assert.deepEqual(parseTimeRange({ since: "2026-12-01" }), { since: new Date("2026-12-01T00:00:00Z") });
    assert.deepEqual(
      parseTimeRange({ since: "2026-12-01T09:30:00Z", until: "2026-12-01T11:00:00.5+01:00" }),
      {
        since: new Date("2026-12-01T09:30:00Z"),
        until: new Date("2026-12-01T10:00:00.5Z"),
      },
    );
  });

  it("refuses what is not a time, naming the option", () => {
    assert.throws(
      () => parseTimeRange({ until: "yesterday" }),
      (error: unknown) =>
        error instanceof BeamlineError &&
        error.code === "BL_BAD_REQUEST" &&
        /--until "yesterday"/.test(error.message),
    );
    assert.throws(() => parseTimeRange({ since: "1700000000" }), /--since/);
  });

  it("refuses an empty window", () => {
    assert.throws(() => parseTimeRange({ since: "2026-12-02", until: "2026-12-01" }), /window is empty/);
  });
});
