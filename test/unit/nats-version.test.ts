import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compareVersions,
  isSupportedServerVersion,
  MIN_NATS_SERVER_VERSION,
} from "../../src/nats/version.js";

describe("compareVersions", () => {
  const ordered: Array<[string, string]> = [
    ["2.12.9", "2.12.10"],
    ["2.10.22", "2.12.0"],
    ["2.12.10", "2.13.0"],
    ["2.12.10", "3.0.0"],
    ["2.12.10-RC.1", "2.12.10"],
    ["2.12.10-beta", "2.12.10-rc"],
    ["2.12", "2.12.1"],
  ];
  for (const [lower, higher] of ordered) {
    it(`orders ${lower} before ${higher}, numerically and both ways round`, () => {
      assert.equal(compareVersions(lower, higher), -1);
      assert.equal(compareVersions(higher, lower), 1);
    });
  }

  it("ignores a leading v and missing trailing zeros", () => {
    assert.equal(compareVersions("v2.12.10", "2.12.10"), 0);
    assert.equal(compareVersions("2.12", "2.12.0"), 0);
    assert.equal(compareVersions("2.12.10-RC.1", "v2.12.10-RC.1"), 0);
  });
});

describe("isSupportedServerVersion", () => {
  it("accepts the floor and anything newer", () => {
    assert.equal(MIN_NATS_SERVER_VERSION, "2.12.10");
    for (const version of ["2.12.10", "v2.12.10", "2.12.11", "2.13.0", "2.14.0-RC.2", "3.0.0"]) {
      assert.equal(isSupportedServerVersion(version), true, version);
    }
  });

  it("refuses the KV-restart-bug releases, older lines, and a pre-release of the floor", () => {
    for (const version of ["2.12.7", "2.12.9", "2.11.4", "2.10.22", "2.12.10-RC.3", "0.0.0"]) {
      assert.equal(isSupportedServerVersion(version), false, version);
    }
  });
});
