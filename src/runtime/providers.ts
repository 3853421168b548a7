import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineConfig, resolveProviderKeys } from "../config/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import {
  createAnthropicAdapter,
  createGeminiAdapter,
  createNatsServiceAdapter,
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
 * unless BEAMLINE_MOCK_URL points at one), OpenAI (or any OpenAI-compatible base URL)
 * when OPENAI_API_KEY is set, Gemini when GEMINI_API_KEY is set, and every provider of
 * BEAMLINE_PROVIDERS (openai-compatible over HTTP, nats-service over `options.nc`), and
 * Anthropic when ANTHROPIC_API_KEY is set. Keys go to the adapters only, never to logs.
 */
export async function setUpProviders(
  config: BeamlineConfig,
  log: Logger,
  startMock: boolean,
  /** `env` holds the keys named by `apiKeyEnv`; `nc` carries calls to `nats-service` providers. */
  options: { env?: NodeJS.ProcessEnv; nc?: NatsConnection } = {},
): Promise<ProviderSetup> {
  // Checked before the mock starts, so a configuration error leaves nothing running.
  const providerKeys = resolveProviderKeys(config.providers, options.env ?? process.env);
  const natsServices = config.providers.filter((entry) => entry.kind === "nats-service");
  if (natsServices.length > 0 && options.nc === undefined) {
    throw new BeamlineError(
      "BL_CONFIG_INVALID",
      `providers ${natsServices.map((entry) => entry.name).join(", ")} of kind nats-service need this process to be connected to NATS`,
    );
  }
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
  if (config.gemini.apiKey) {
    adapters.push(
      createGeminiAdapter({
        name: "gemini",
        baseUrl: config.gemini.baseUrl,
        apiKey: config.gemini.apiKey,
        ...timeouts,
      }),
    );
    log.info({ baseUrl: config.gemini.baseUrl }, "Gemini provider configured");
  }
  for (const entry of config.providers) {
    if (entry.kind === "openai-compatible") {
      const apiKey = providerKeys.get(entry.name);
      adapters.push(
        createOpenAiAdapter({
          name: entry.name,
          baseUrl: entry.baseUrl,
          ...(apiKey === undefined ? {} : { apiKey }),
          ...(entry.headers === undefined ? {} : { headers: entry.headers }),
          ...timeouts,
        }),
      );
      log.info({ provider: entry.name, baseUrl: entry.baseUrl }, "OpenAI-compatible provider configured");
    } else {
      adapters.push(
        createNatsServiceAdapter({
          name: entry.name,
          nc: options.nc!,
          ...(entry.subject === undefined ? {} : { subject: entry.subject }),
          ...(entry.timeoutMs === undefined ? {} : { timeoutMs: entry.timeoutMs }),
          ...(entry.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: entry.idleTimeoutMs }),
        }),
      );
      log.info({ provider: entry.name, subject: entry.subject }, "NATS service provider configured");
    }
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
