import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfigFromEnv } from "../../src/config/index.js";
import { youngGenerationAdvice, youngGenerationCapMb } from "../../src/runtime/young-generation.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** What `process.constrainedMemory()` answers without a limit on cgroup v1 (2^64 as a double). */
const NO_LIMIT = 2 ** 64;

describe("advice on V8's young generation at start-up", () => {
  it("has nothing to say on a machine or container with 3 GiB or more", () => {
    assert.equal(
      youngGenerationAdvice({ constrainedBytes: NO_LIMIT, totalBytes: 24 * GiB, nodeFlags: [] }),
      undefined,
    );
    assert.equal(
      youngGenerationAdvice({ constrainedBytes: 0, totalBytes: 8 * GiB, nodeFlags: [] }),
      undefined,
    );
    assert.equal(
      youngGenerationAdvice({ constrainedBytes: undefined, totalBytes: 8 * GiB, nodeFlags: [] }),
      undefined,
    );
    assert.equal(
      youngGenerationAdvice({ constrainedBytes: 3 * GiB, totalBytes: 24 * GiB, nodeFlags: [] }),
      undefined,
    );
  });

  it("names the limit and the flag in a smaller container", () => {
    const advice = youngGenerationAdvice({
      constrainedBytes: 512 * MiB,
      totalBytes: 24 * GiB,
      nodeFlags: [],
    });
    assert.match(advice ?? "", /may use 512 MiB/);
    assert.match(advice ?? "", /--max-semi-space-size=16/);
  });

  it("takes the machine's memory when it is below the container's limit", () => {
    const advice = youngGenerationAdvice({ constrainedBytes: 8 * GiB, totalBytes: 2 * GiB, nodeFlags: [] });
    assert.match(advice ?? "", /may use 2048 MiB/);
  });

  it("stays quiet when an operator chose the size with the flag, in either spelling", () => {
    for (const flag of ["--max-semi-space-size=16", "--max_semi_space_size=8", "--max-semi-space-size"]) {
      assert.equal(
        youngGenerationAdvice({
          constrainedBytes: 512 * MiB,
          totalBytes: 24 * GiB,
          nodeFlags: ["--enable-source-maps", flag],
        }),
        undefined,
        flag,
      );
    }
    assert.ok(
      youngGenerationAdvice({
        constrainedBytes: 512 * MiB,
        totalBytes: 24 * GiB,
        nodeFlags: ["--max-old-space-size=200"],
      }),
    );
  });
});

describe("the young generation's cap from the setting", () => {
  it("auto caps a process held to one core at 16 MB and leaves V8's rule on more cores", () => {
    assert.equal(youngGenerationCapMb("auto", 1), 16);
    assert.equal(youngGenerationCapMb("auto", 2), 0);
    assert.equal(youngGenerationCapMb("auto", 64), 0);
  });

  it("takes a number as given, whatever the cores, 0 included", () => {
    assert.equal(youngGenerationCapMb(8, 1), 8);
    assert.equal(youngGenerationCapMb(0, 1), 0);
    assert.equal(youngGenerationCapMb(24, 8), 24);
  });

  it("is auto by default, and reads a number or auto from the environment", () => {
    assert.equal(loadConfigFromEnv({}).youngGenerationMb, "auto");
    assert.equal(loadConfigFromEnv({ BEAMLINE_YOUNG_GENERATION_MB: "8" }).youngGenerationMb, 8);
    assert.equal(loadConfigFromEnv({ BEAMLINE_YOUNG_GENERATION_MB: "auto" }).youngGenerationMb, "auto");
    assert.throws(
      () => loadConfigFromEnv({ BEAMLINE_YOUNG_GENERATION_MB: "big" }),
      /youngGenerationMb: must be auto or a whole number of MB from 0 to 64/,
    );
  });
});
