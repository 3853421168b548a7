import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StreamNames } from "../../src/nats/names.js";
import { streamStoring } from "../../src/nats/subject-streams.js";
import { beamlineTopology } from "../../streams/index.js";
import { DEFAULT_TOPOLOGY_SETTINGS } from "../support/topology.js";

describe("which stream stores a subject", () => {
  const streams = beamlineTopology(DEFAULT_TOPOLOGY_SETTINGS).streams;

  it("agrees with every stream's subjects, the notary's apart", () => {
    for (const stream of streams) {
      for (const filter of stream.subjects) {
        assert.match(filter, /^[a-z]+\.[a-z]+\.>$/, `${stream.name} takes one two-token root`);
        const subject = filter.replace(">", "acme.req_1.terminal");
        const expected = stream.name === StreamNames.audit ? undefined : stream.name;
        assert.equal(streamStoring(subject), expected, subject);
      }
    }
  });

  it("knows no stream for other subjects", () => {
    for (const subject of ["bl", "bl.req", "bl.requests.acme.x", "other.req.acme.x", ""]) {
      assert.equal(streamStoring(subject), undefined, subject);
    }
  });
});
