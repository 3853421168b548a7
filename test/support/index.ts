export { dataOf } from "./data-of.js";
export type {
  NatsCluster,
  NatsServer,
  StartNatsClusterOptions,
  StartNatsServerOptions,
} from "./nats-server.js";
export { natsServerBinary, startNatsCluster, startNatsServer } from "./nats-server.js";
export { signedStore, TEST_EVENT_SIGNING_KEY, testSigner } from "./signing.js";
export { sseData, sseEvents } from "./sse.js";
export { VirtualClock } from "./virtual-clock.js";
export type { WaitForOptions } from "./wait.js";
export { waitFor } from "./wait.js";
