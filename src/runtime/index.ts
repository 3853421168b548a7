export type { RunningBeamline } from "./app.js";
export { startBeamline, topologyOf } from "./app.js";
export type { ContentAtRest } from "./content.js";
export { contentOpener, openContentAtRest } from "./content.js";
export type { EmbeddedNats } from "./embedded-nats.js";
export { resolveNatsServerBinary, runningEmbeddedNatsUrl, startEmbeddedNats } from "./embedded-nats.js";
export { capYoungGeneration } from "./young-generation.js";
