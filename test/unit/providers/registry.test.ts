import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBeamlineError } from "../../../src/errors/index.js";
import { createProviderRegistry } from "../../../src/providers/registry.js";
import type { ProviderAdapter } from "../../../src/providers/types.js";

function fakeAdapter(name: string, close: () => Promise<void> = async () => {}): ProviderAdapter {
  return {
    name,
    complete: async () => {
      throw new Error("not used");
    },
    close,
  };
}

describe("provider registry", () => {
  it("returns the adapter registered under a name", () => {
    const openai = fakeAdapter("openai");
    const registry = createProviderRegistry([openai, fakeAdapter("mock")]);
    assert.equal(registry.get("openai"), openai);
    assert.deepEqual(registry.names(), ["openai", "mock"]);
    assert.equal(registry.has("mock"), true);
  });

  it("throws BL_PROVIDER_UNAVAILABLE for an unknown provider, naming the known ones", () => {
    const registry = createProviderRegistry([fakeAdapter("openai")]);
    assert.throws(
      () => registry.get("anthropic"),
      (error) =>
        isBeamlineError(error, "BL_PROVIDER_UNAVAILABLE") && /"anthropic".*openai/.test(error.message),
    );
  });

  it("rejects two adapters with the same name", () => {
    assert.throws(
      () => createProviderRegistry([fakeAdapter("a"), fakeAdapter("a")]),
      (error) => isBeamlineError(error, "BL_CONFIG_INVALID"),
    );
  });

  it("closes every adapter even when one fails, then reports the failure", async () => {
    const closed: string[] = [];
    const registry = createProviderRegistry([
      fakeAdapter("a", async () => {
        throw new Error("a failed");
      }),
      fakeAdapter("b", async () => {
        closed.push("b");
      }),
    ]);
    await assert.rejects(
      registry.closeAll(),
      (error) => error instanceof AggregateError && error.errors.length === 1,
    );
    assert.deepEqual(closed, ["b"]);
  });
});
