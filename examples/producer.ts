/**
 * A producer that sends a request straight onto NATS and receives the result, without the
 * HTTP gateway. Issue a producer for the tenant first, then run it against a running Beamline:
 *
 *   npx beamline producers issue --tenant dev        # prints pr-…
 *   PRODUCER_ID=pr-… NATS_URL=nats://127.0.0.1:4222 node --import tsx examples/producer.ts
 *
 * (With `npm start` and no NATS_URL, the embedded server's URL is in `.data/nats.url`.)
 */

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { decode } from "cbor-x";

const natsUrl = process.env["NATS_URL"] ?? readFileSync(".data/nats.url", "utf8").trim();
const tenant = process.env["TENANT"] ?? "dev";
const producerId = process.env["PRODUCER_ID"];
if (!producerId) throw new Error("set PRODUCER_ID to the id `beamline producers issue` printed");
// The producer picks the request id: publishing the same id again never creates a second request.
const requestId = `req_example_${Date.now()}`;

const nc = await connect({ servers: natsUrl });
const js = jetstream(nc);

// The result comes to a reply inbox under the producer's own prefix (the only place Beamline
// answers it): streamed chunks (when stream: true), then the terminal event — or a refusal.
const inbox = `bl.live.${producerId}.${randomBytes(8).toString("hex")}`;
const done = new Promise<void>((resolve) => {
  nc.subscribe(inbox, {
    callback: (_error, msg) => {
      const kind = msg.headers?.get("bl-live");
      if (kind === "terminal") {
        const terminal = decode(msg.data) as { type: string; data: Record<string, unknown> };
        console.log(terminal.type, JSON.stringify(terminal.data, null, 2));
        resolve();
      }
    },
  });
});

// The request.accepted event, as JSON (CBOR is what Beamline itself writes; both are read).
const event = {
  id: `${requestId}:accepted`,
  type: "request.accepted",
  v: 1,
  tenant,
  requestId,
  correlationId: requestId,
  time: new Date().toISOString(),
  data: {
    request: { model: "mock-small", messages: [{ role: "user", content: "Hello from NATS" }] },
    frontDoor: "nats",
    stream: false,
    replyTo: inbox,
  },
};
const h = headers();
h.set("content-type", "application/json");
h.set("bl-type", "request.accepted");
h.set("bl-v", "1");
// The ingress subject names the tenant and the producer: the identity Beamline goes by. The
// ingress checks it, then stores the request once however often it is published.
await js.publish(`bl.in.${tenant}.${producerId}.${requestId}`, JSON.stringify(event), {
  msgID: event.id,
  headers: h,
});
console.log("published", requestId);
await done;
// The same answer is in the log for as long as the stream keeps it:
//   npx beamline requests show dev <requestId>
await nc.close();
