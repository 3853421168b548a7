import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { isBeamlineError } from "../../src/errors/index.js";
import { StreamNames } from "../../src/nats/names.js";
import {
  applyTopology,
  beamlineTopology,
  type PlannedChange,
  planTopology,
  type Topology,
} from "../../streams/index.js";
import { runCli } from "../support/cli.js";
import { type NatsServer, startNatsServer } from "../support/index.js";
import { DAY_NS, DEFAULT_TOPOLOGY_SETTINGS } from "../support/topology.js";

const settings = DEFAULT_TOPOLOGY_SETTINGS;
/** What `beamline streams apply` applies with no BEAMLINE_* variables set. */
const defaultTopology = beamlineTopology(settings);

/** Runs `beamline streams apply` as its own process; rejects with its stderr when it fails. */
const cliApply = (natsUrl: string, ...args: string[]) => runCli(natsUrl, ["streams", "apply", ...args]);

async function connectFor(t: TestContext, server: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  t.after(() => nc.close());
  return nc;
}

async function planOf(nc: NatsConnection, topology: Topology): Promise<PlannedChange[]> {
  return planTopology(await jetstreamManager(nc), topology);
}

/** The plan as `<kind> <target> <name>` lines, for readable failures. */
const kinds = (plan: PlannedChange[]) => plan.map((p) => `${p.action.kind} ${p.target} ${p.name}`);
const allUnchanged = (plan: PlannedChange[]) => plan.map((p) => `unchanged ${p.target} ${p.name}`);

describe("beamline streams apply", { timeout: 45_000 }, () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(() => server.stop());

  it("creates everything on the first run and changes nothing on the second", async (t) => {
    const first = await cliApply(server.url);
    assert.match(first, /^create stream BL_REQUESTS$/m);
    assert.match(first, /^create consumer BL_REQUESTS\/worker$/m);
    assert.match(first, /^create kv bl_apikeys$/m);
    const everything =
      defaultTopology.streams.length + defaultTopology.consumers.length + defaultTopology.kv.length;
    assert.match(first, new RegExp(`^${everything} change\\(s\\) applied$`, "m"));

    const second = await cliApply(server.url);
    const lines = second.trim().split("\n");
    assert.equal(lines.at(-1), "nothing to change");
    assert.deepEqual(
      lines.slice(0, -1).filter((line) => !line.startsWith("unchanged ")),
      [],
      "the second run plans only unchanged",
    );
    const nc = await connectFor(t, server);
    const plan = await planOf(nc, defaultTopology);
    assert.deepEqual(kinds(plan), allUnchanged(plan));
  });
});

describe("applying the topology from several places at once", { timeout: 45_000 }, () => {
  it("three CLI processes on a fresh server all succeed and leave the same state", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const outputs = await Promise.all([cliApply(server.url), cliApply(server.url), cliApply(server.url)]);
    assert.equal(outputs.length, 3);
    const nc = await connectFor(t, server);
    const plan = await planOf(nc, defaultTopology);
    assert.deepEqual(kinds(plan), allUnchanged(plan));
    const jsm = await jetstreamManager(nc);
    const consumers: string[] = [];
    for await (const consumer of jsm.consumers.list(StreamNames.requests)) consumers.push(consumer.name);
    const declared = defaultTopology.consumers.filter((c) => c.stream === StreamNames.requests);
    assert.deepEqual(consumers.sort(), declared.map((c) => c.durable_name).sort());
  });

  it("three connections racing applyTopology in one process all succeed and agree", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const connections = await Promise.all([1, 2, 3].map(() => connectFor(t, server)));
    const reports = await Promise.all(connections.map((nc) => applyTopology(nc, defaultTopology)));
    for (const report of reports) assert.equal(report.applied, true);
    const plans = await Promise.all(connections.map((nc) => planOf(nc, defaultTopology)));
    for (const plan of plans) assert.deepEqual(kinds(plan), allUnchanged(plan));
  });
});

describe("destructive changes", { timeout: 45_000 }, () => {
  it("refuses a shorter retention without force, leaving the server as it was, and applies it with force", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const nc = await connectFor(t, server);
    const jsm = await jetstreamManager(nc);
    await applyTopology(nc, defaultTopology);
    const shorter = beamlineTopology({ ...settings, requestRetentionDays: 7 });

    await assert.rejects(
      applyTopology(nc, shorter),
      (error) =>
        isBeamlineError(error, "BL_STREAM_CONFLICT") &&
        /--force/.test(error.message) &&
        /update stream BL_REQUESTS: max_age 2592000000000000 → 604800000000000 \(destructive\)/.test(
          error.message,
        ),
    );
    assert.equal((await jsm.streams.info(StreamNames.requests)).config.max_age, 30 * DAY_NS);

    const report = await applyTopology(nc, shorter, { force: true });
    assert.equal(report.applied, true);
    assert.equal((await jsm.streams.info(StreamNames.requests)).config.max_age, 7 * DAY_NS);
    const plan = await planOf(nc, shorter);
    assert.deepEqual(kinds(plan), allUnchanged(plan));
  });

  it("refuses a persist mode change (a recreate) without force; with force the stream is new and empty", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const nc = await connectFor(t, server);
    const jsm = await jetstreamManager(nc);
    await applyTopology(nc, defaultTopology);
    await jetstream(nc).publish("bl.req.dev.req_1.accepted", "an event the recreate will drop");
    const asyncMode = beamlineTopology({ ...settings, persistMode: "async" });

    await assert.rejects(
      applyTopology(nc, asyncMode),
      (error) =>
        isBeamlineError(error, "BL_STREAM_CONFLICT") &&
        /recreate stream BL_REQUESTS: persist_mode "default" → "async"/.test(error.message),
    );
    const kept = await jsm.streams.info(StreamNames.requests);
    assert.equal(kept.state.messages, 1, "a refused plan changes nothing");

    await applyTopology(nc, asyncMode, { force: true });
    const recreated = await jsm.streams.info(StreamNames.requests);
    assert.equal(recreated.config.persist_mode, "async");
    assert.equal(recreated.state.messages, 0);
  });

  it("leaves the stage consumers of a recreated stream in place", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const nc = await connectFor(t, server);
    await applyTopology(nc, defaultTopology);
    const asyncMode = beamlineTopology({ ...settings, persistMode: "async" });
    await applyTopology(nc, asyncMode, { force: true });
    const plan = await planOf(nc, asyncMode);
    assert.deepEqual(kinds(plan), allUnchanged(plan));
  });
});
