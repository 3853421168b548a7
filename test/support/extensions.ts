import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { type BeamlineEvent, isEvent, usageSubject } from "../../src/events/index.js";
import { StreamNames } from "../../src/nats/names.js";
import type { StoredEvent } from "../../src/nats/read-events.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import type { TestBeamline } from "./beamline.js";
import { readEvents, readRequestHistory } from "./history.js";
import { signedStore } from "./signing.js";
import { waitFor } from "./wait.js";

/**
 * Helpers of the extension end-to-end tests: the example extension as its own process,
 * tenants with their own keys and policies, and what a request stored.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const EXAMPLE = "examples/extension-competitor-mention.ts";

/** A started example extension process and everything it printed so far. */
export interface ExampleExtension {
  child: ChildProcess;
  output(): string;
}

/**
 * Starts `examples/extension-competitor-mention.ts` as a separate process answering
 * `competitor-mention/<version>` on `natsUrl`, and waits for its ready line. With `register`
 * it registers itself in `bl_extensions` before printing that line.
 */
export async function startExampleExtension(
  natsUrl: string,
  version: "v1" | "v2",
  options: { register?: boolean } = {},
): Promise<ExampleExtension> {
  const child = spawn(process.execPath, ["--import", "tsx", EXAMPLE], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      EXTENSION_VERSION: version,
      REGISTER: options.register === true ? "1" : "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (data: Buffer) => {
    output += data.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output}`);
      return output.includes(`competitor-mention/${version} ready`);
    },
    { what: `the example extension ${version} to print its ready line`, timeoutMs: 30_000 },
  );
  return { child, output: () => output };
}

/** Stops a child process (SIGTERM, then SIGKILL after `graceMs`) and waits for its exit. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** What the gateway answered: status, parsed body (or text), the request id header. */
export interface GatewayAnswer {
  status: number;
  body: unknown;
  text: string;
  requestId: string;
}

/** A chat completions request body for the mock's small model with one user message. */
export const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "mock-small",
  messages: [{ role: "user", content }],
  ...extra,
});

/** The first choice's text of a plain (not streamed) chat completions answer. */
export function openAiText(answer: GatewayAnswer): string {
  const body = answer.body as { choices: Array<{ message: { content: string } }> };
  return body.choices[0]?.message.content ?? "";
}

/** POSTs `body` as JSON to the gateway `path` with `key`; `anthropic` sends `x-api-key`. */
export async function postJson(
  beamline: TestBeamline,
  path: "/v1/chat/completions" | "/v1/messages",
  key: string,
  body: unknown,
): Promise<GatewayAnswer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (path === "/v1/messages") {
    headers["x-api-key"] = key;
    headers["anthropic-version"] = "2023-06-01";
  } else headers["authorization"] = `Bearer ${key}`;
  const response = await fetch(`${beamline.baseUrl}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // An SSE body stays text.
  }
  return {
    status: response.status,
    body: parsed,
    text,
    requestId: response.headers.get("x-request-id") ?? "",
  };
}

/** Creates a tenant with one API key and waits until the gateway accepts that key. */
export async function createTenantWithKey(beamline: TestBeamline, tenant: string): Promise<string> {
  const admin = await openTenancyAdmin(signedStore(beamline.nc));
  await admin.createTenant({ id: tenant });
  const issued = await admin.issueKey(tenant, { label: "e2e" });
  await waitFor(
    async () =>
      (
        await postJson(beamline, "/v1/chat/completions", issued.key, {
          model: "mock-small",
          messages: [{ role: "user", content: "key probe" }],
        })
      ).status === 200,
    { what: `the gateway to accept the key of tenant ${tenant}`, timeoutMs: 15_000 },
  );
  return issued.key;
}

/** Tells from a probe request's answer and events whether the worker applies the published policy. */
export type PolicyApplied = (answer: GatewayAnswer, events: BeamlineEvent[], version: number) => boolean;

/** The default {@link PolicyApplied}: the probe was routed with the published version. */
const routedWithVersion: PolicyApplied = (_answer, events, version) =>
  events.some((event) => isEvent(event, "route.decided") && event.data.policyVersion === version);

/**
 * Publishes a tenant policy and waits until the worker applies it, judged by probe requests
 * (content `probe`): by default until a probe's route.decided names the published version;
 * pass `applied` for a policy that refuses the probe before routing.
 */
export async function applyPolicy(
  beamline: TestBeamline,
  tenant: string,
  key: string,
  document: unknown,
  options: { probe?: string; applied?: PolicyApplied } = {},
): Promise<number> {
  const published = await publishPolicy(signedStore(beamline.nc), tenant, document, new Date());
  const applied = options.applied ?? routedWithVersion;
  await waitFor(
    async () => {
      const answer = await postJson(beamline, "/v1/chat/completions", key, {
        model: "mock-small",
        messages: [{ role: "user", content: options.probe ?? "policy probe" }],
      });
      const events = (await settledHistory(beamline, tenant, answer.requestId)).map(({ event }) => event);
      return applied(answer, events, published.version);
    },
    {
      what: `the worker to apply ${tenant}'s policy version ${published.version}`,
      timeoutMs: 15_000,
    },
  );
  return published.version;
}

/** The request's history once its terminal event is stored (waits for it). */
export async function settledHistory(
  beamline: TestBeamline,
  tenant: string,
  requestId: string,
): Promise<StoredEvent[]> {
  return waitFor(
    async () => {
      const history = await readRequestHistory(beamline.nc, tenant, requestId);
      return history.some(
        ({ event }) => event.type === "request.completed" || event.type === "request.failed",
      )
        ? history
        : undefined;
    },
    { what: `the terminal event of ${tenant}/${requestId}` },
  );
}

/** The `extension.applied` events of a request's history, keyed `<stage>.<index>`. */
export function extensionOutcomes(
  history: readonly StoredEvent[],
): Map<string, BeamlineEvent<"extension.applied">["data"] & { seq: number }> {
  const outcomes = new Map<string, BeamlineEvent<"extension.applied">["data"] & { seq: number }>();
  for (const { event, seq } of history) {
    if (isEvent(event, "extension.applied")) {
      outcomes.set(`${event.data.stage}.${event.data.index}`, { ...event.data, seq });
    }
  }
  return outcomes;
}

/** Usage records stored for one request (billing's output). */
export async function usageOf(
  beamline: TestBeamline,
  tenant: string,
  requestId: string,
): Promise<StoredEvent[]> {
  return readEvents(beamline.nc, StreamNames.usage, usageSubject(tenant, requestId));
}

/** First choice of a stored completion (kept loose in the events): its text and finish reason. */
export function storedChoice(completion: { choices: unknown[] } | undefined): {
  content: string | null | undefined;
  finishReason: string | null | undefined;
} {
  const choice = completion?.choices[0] as
    | { message?: { content?: string | null }; finish_reason?: string | null }
    | undefined;
  return { content: choice?.message?.content, finishReason: choice?.finish_reason };
}
