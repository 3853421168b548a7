import type { BeamlineConfig } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import {
  createAnthropicAdapter,
  createOpenAiAdapter,
  createProviderRegistry,
  type MockProvider,
  type ProviderAdapter,
  type ProviderRegistry,
  startMockProvider,
} from "../providers/index.js";

export interface ProviderSetup {
  registry: ProviderRegistry;
  /** The in-process mock provider, when this process started one. */
  mock: MockProvider | undefined;
  close(): Promise<void>;
}

/**
 * The providers this process can call: the built-in mock (always; an in-process server
 * unless BEAMLINE_MOCK_URL points at one) and OpenAI (or any OpenAI-compatible base URL)
 * when OPENAI_API_KEY is set, and Anthropic when ANTHROPIC_API_KEY is set. Keys go to the adapters only, never to logs.
 */
export async function setUpProviders(
  config: BeamlineConfig,
  log: Logger,
  startMock: boolean,
): Promise<ProviderSetup> {
  const timeouts = {
    connectTimeoutMs: config.provider.connectTimeoutMs,
    headersTimeoutMs: config.provider.headersTimeoutMs,
    requestTimeoutMs: config.provider.requestTimeoutMs,
    maxConnections: config.provider.maxConnections,
  };
  let mock: MockProvider | undefined;
  let mockUrl = config.mock.url;
  if (!mockUrl && startMock) {
    mock = await startMockProvider({
      port: config.mock.port,
      latencyMs: config.mock.latencyMs,
      chunkDelayMs: config.mock.chunkDelayMs,
      failureRate: config.mock.failureRate,
    });
    mockUrl = mock.url;
    log.info({ url: mock.url }, "serving the built-in mock provider");
  }
  const adapters: ProviderAdapter[] = [];
  if (mockUrl) adapters.push(createOpenAiAdapter({ name: "mock", baseUrl: mockUrl, ...timeouts }));
  if (config.openai.apiKey) {
    adapters.push(
      createOpenAiAdapter({
        name: "openai",
        baseUrl: config.openai.baseUrl,
        apiKey: config.openai.apiKey,
        ...timeouts,
      }),
    );
    log.info({ baseUrl: config.openai.baseUrl }, "OpenAI provider configured");
  }
  if (config.anthropic.apiKey) {
    adapters.push(
      createAnthropicAdapter({
        name: "anthropic",
        baseUrl: config.anthropic.baseUrl,
        apiKey: config.anthropic.apiKey,
        ...timeouts,
      }),
    );
    log.info({ baseUrl: config.anthropic.baseUrl }, "Anthropic provider configured");
  }
  const registry = createProviderRegistry(adapters);
  return {
    registry,
    mock,
    async close() {
      await registry.closeAll().catch((error) => log.warn({ err: error }, "closing provider pools failed"));
      await mock?.close();
    },
  };
}
