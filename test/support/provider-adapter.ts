import assert from "node:assert/strict";
import { after, before } from "node:test";
import { inspect } from "node:util";
import type { ChatCompletionChunk, ChatRequest } from "../../src/chat/wire.js";
import {
  type MockProvider,
  type MockProviderOptions,
  type ProviderAdapter,
  ProviderError,
  startMockProvider,
} from "../../src/providers/index.js";

/** Rejection of `promise` as a ProviderError; fails the test when it resolves or throws something else. */
export async function providerErrorOf(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${inspect(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

export interface MockAdapterFixture {
  readonly mock: MockProvider;
  readonly adapter: ProviderAdapter;
}

/**
 * Starts a mock provider and an adapter on it before the enclosing describe's tests and closes
 * both after them. Call inside a describe; read `mock` and `adapter` only inside tests.
 */
export function useMockAdapter(
  mockOptions: MockProviderOptions,
  createAdapter: (mock: MockProvider) => ProviderAdapter,
): MockAdapterFixture {
  let mock: MockProvider | undefined;
  let adapter: ProviderAdapter | undefined;
  before(async () => {
    mock = await startMockProvider(mockOptions);
    adapter = createAdapter(mock);
  });
  after(async () => {
    await adapter?.close();
    await mock?.close();
  });
  return {
    get mock() {
      assert.ok(mock, "the mock provider is started in before()");
      return mock;
    },
    get adapter() {
      assert.ok(adapter, "the adapter is created in before()");
      return adapter;
    },
  };
}

/** Calls the mock's `mock-fault-<fault>` model, plain or streaming, and returns the error and any chunks delivered first. */
export async function faultCallOutcome(
  adapter: ProviderAdapter,
  fault: string,
  request: ChatRequest,
  streaming: boolean,
): Promise<{ error: ProviderError; chunks: ChatCompletionChunk[] }> {
  const chunks: ChatCompletionChunk[] = [];
  const error = await providerErrorOf(
    adapter.complete({
      upstreamModel: `mock-fault-${fault}`,
      request,
      ...(streaming ? { onChunk: (chunk: ChatCompletionChunk) => chunks.push(chunk) } : {}),
    }),
  );
  return { error, chunks };
}
