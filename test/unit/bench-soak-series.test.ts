import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseGoMemory, parseHeapSites } from "../../bench/nats-memory.js";
import { isStreamed } from "../../bench/soak-load.js";
import { memoryTrend, type SoakSample, soakGoals } from "../../bench/soak-series.js";

const sample = (t: number, routerRssMb: number, natsRssMb: number): SoakSample => ({
  t,
  routerRssMb,
  natsRssMb,
  routerHeapUsedMb: undefined,
  routerExternalMb: undefined,
  ok: 0,
  errors: 0,
  dropped: 0,
  plainP50: 0,
  plainP99: 0,
  streamedP50: 0,
  streamedP99: 0,
  inFlight: 0,
  requestMessages: undefined,
  requestSubjects: undefined,
});

/** The soak's verdicts: trend after warm-up, ceilings, the mix of calls, nats-server's heap profile. */
describe("bench soak series", () => {
  it("measures the slope after warm-up only, in MB per minute", () => {
    // Warm-up climbs steeply; afterwards the router grows 2 MB a minute and nats-server is flat.
    const samples = [0, 60, 120, 180, 240, 300].map((t) =>
      sample(t, t < 120 ? t : 120 + ((t - 120) / 60) * 2, t < 120 ? 50 + t : 200),
    );
    const router = memoryTrend(samples, "routerRssMb", 120);
    const nats = memoryTrend(samples, "natsRssMb", 120);
    assert.equal(router?.afterWarmupMb, 120);
    assert.equal(router?.endMb, 126);
    assert.ok(Math.abs((router?.slopeMbPerMinute ?? 0) - 2) < 1e-9);
    assert.equal(nats?.slopeMbPerMinute, 0);
    const goals = soakGoals(router, nats);
    assert.deepEqual(
      goals.map((g) => g.met),
      [false, true, true, true],
    );
  });

  it("judges nothing from fewer than two samples after warm-up", () => {
    assert.equal(memoryTrend([sample(0, 1, 1), sample(10, 2, 2)], "routerRssMb", 10), undefined);
    assert.ok(soakGoals(undefined, undefined).every((g) => !g.met));
  });

  it("streams the requested share of calls, spread evenly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 2000 }), (percent, calls) => {
        const share = percent / 100;
        let streamed = 0;
        for (let i = 0; i < calls; i++) if (isStreamed(i, share)) streamed += 1;
        return streamed === Math.floor(calls * share + 1e-9);
      }),
    );
  });

  it("reads nats-server's Go heap and scales sampled small objects up", () => {
    const profile = [
      "heap profile: 3: 1600 [3: 1600] @ heap/1048576",
      "2: 1024 [2: 1024] @ 0x1 0x2",
      "#\t0x1\tgithub.com/nats-io/nats-server/v2/server/stree.newLeaf[...]+0x10\tstree.go:1",
      "",
      "1: 8388608 [1: 8388608] @ 0x3 0x4 0x5",
      "#\t0x3\tgithub.com/nats-io/nats-server/v2/server.init.func10+0x1\tfilestore.go:1",
      "#\t0x4\tgithub.com/nats-io/nats-server/v2/server.getMsgBlockBuf+0x1\tfilestore.go:2",
      "#\t0x5\tgithub.com/nats-io/nats-server/v2/server.(*msgBlock).writeMsgRecordLocked+0x1\tfilestore.go:3",
      "",
      "# runtime.MemStats",
      "# HeapAlloc = 1048576",
      "# HeapAlloc = 2097152",
      "# HeapInuse = 3145728",
      "# NextGC = 4194304",
    ].join("\n");
    const sites = parseHeapSites(profile);
    assert.equal(sites[0]?.fn, "init.func10 ← getMsgBlockBuf ← (*msgBlock).writeMsgRecordLocked");
    assert.ok(Math.abs((sites[0]?.inuseMb ?? 0) - 8) < 0.01);
    // Two 512-byte objects sampled at one per 512 KiB stand for about 1,024 times as many bytes.
    assert.equal(sites[1]?.fn, "github.com/nats-io/nats-server/v2/server/stree.newLeaf[...]");
    assert.ok((sites[1]?.inuseMb ?? 0) > 0.9 && (sites[1]?.inuseMb ?? 0) < 1.1);
    assert.deepEqual(parseGoMemory(profile), {
      heapAllocMb: 2,
      heapInuseMb: 3,
      heapReleasedMb: 0,
      sysMb: 0,
      nextGcMb: 4,
    });
  });
});
