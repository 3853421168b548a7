import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chainStep, genesisHash, leafDigest, type NotarisedMessage } from "../../src/audit/index.js";

// Checkpoints written by every earlier build must keep verifying: these digests were computed by
// the first implementation of the chain and pin its byte format (docs/audit.md, "Tamper
// evidence"). A change here is a new chain version, never an edit to these values.
const message: NotarisedMessage = {
  stream: "BL_USAGE",
  seq: 42,
  subject: "bl.usage.acme.r1",
  headers: [
    ["bl-type", ["usage.recorded"]],
    ["Nats-Expected-Last-Subject-Sequence", ["0"]],
    ["BL-Tenant", ["acme"]],
    ["bl-tenant", ["acme-2"]],
    ["Nats-Msg-Id", ["m-1"]],
  ],
  payload: new TextEncoder().encode("payload ✓ bytes"),
};

describe("the notary's hash chain keeps its byte format", () => {
  it("genesis is bound to the stream's name", () => {
    assert.equal(
      genesisHash("BL_USAGE").toString("hex"),
      "10feab91edfc8d50010a8890129eceafc26316ab70f8b7f60accb5a33cf2c298",
    );
  });

  it("a leaf covers stream, sequence, subject, canonical headers and the payload's digest", () => {
    assert.equal(
      leafDigest(message).toString("hex"),
      "b6f488dfaa1a8f7b180051f11a6ae9908665df896cfb302d3610bdb5d0111aaa",
    );
    assert.equal(
      leafDigest({ ...message, headers: [], payload: new Uint8Array(0) }).toString("hex"),
      "2befd5f6c0fda18ae001e5b57ad0fb74fe82c6fb5fffb6f9ac7f856ac68862b5",
    );
  });

  it("header names fold case, write-time preconditions are left out, order does not matter", () => {
    const reordered: NotarisedMessage = {
      ...message,
      headers: [
        ["Nats-Msg-Id", ["m-1"]],
        ["BL-TENANT", ["acme"]],
        ["bl-tenant", ["acme-2"]],
        ["BL-Type", ["usage.recorded"]],
      ],
    };
    assert.equal(leafDigest(reordered).toString("hex"), leafDigest(message).toString("hex"));
    const otherValueOrder: NotarisedMessage = {
      ...message,
      headers: [
        ["bl-tenant", ["acme-2"]],
        ["BL-Tenant", ["acme"]],
        ["bl-type", ["usage.recorded"]],
        ["Nats-Msg-Id", ["m-1"]],
      ],
    };
    assert.notEqual(leafDigest(otherValueOrder).toString("hex"), leafDigest(message).toString("hex"));
  });

  it("each step folds one leaf into the running hash", () => {
    assert.equal(
      chainStep(genesisHash("BL_USAGE"), leafDigest(message)).toString("hex"),
      "794988e8d7fceecbc219f65e7c9461754d7e90dad2964feddf716c0b9f599d9f",
    );
  });
});
