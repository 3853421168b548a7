/**
 * Bounded client load for the cluster fault suite: a fixed number of clients, each sending
 * plain and streamed chat requests in turn through the gateways, every request with a client
 * deadline, until told to stop or a request cap is reached. Every answer is recorded with what
 * the client saw, so a test can check it against the log.
 */

/** What one client saw for one request. */
export interface ClientAnswer {
  /** From the `x-request-id` response header; undefined when no answer started. */
  requestId: string | undefined;
  tenant: string;
  gateway: number;
  stream: boolean;
  startedAt: number;
  endedAt: number;
  /**
   * `ok`: a 200 (a stream ending in `[DONE]`); `bl-error`: an error body or event carrying a
   * BL code; `connection-error`: the gateway went away; `deadline`: the client gave up;
   * `unclear`: anything else (a failure without a BL code).
   */
  outcome: "ok" | "bl-error" | "connection-error" | "deadline" | "unclear";
  status: number | undefined;
  code: string | undefined;
}

/** A tenant the load sends requests for, with its API key. */
export interface LoadTenant {
  tenant: string;
  apiKey: string;
}

/** Options of {@link startClusterLoad}. */
export interface ClusterLoadOptions {
  /** Base URL of gateway `index` now; undefined while it is down (the client then uses another). */
  gatewayUrl(index: number): string | undefined;
  gatewayCount: number;
  /** Client `i` sends as `tenants[i % tenants.length]`. */
  tenants: LoadTenant[];
  clients?: number;
  /** Per-request client deadline, in milliseconds. Default 20 000. */
  deadlineMs?: number;
  /** Upper bound on requests per client, whatever happens. Default 2 000. */
  maxRequestsPerClient?: number;
  model?: string;
}

/** A running load; {@link ClusterLoad.stop} ends it after the requests in flight. */
export interface ClusterLoad {
  readonly answers: ClientAnswer[];
  /** Resolves once `count` more answers have come in (progress under a fault). */
  answered(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<ClientAnswer[]>;
}

/** Starts `clients` loops, client `i` using gateway `i % gatewayCount` and alternating plain and streamed requests. */
export function startClusterLoad(options: ClusterLoadOptions): ClusterLoad {
  const { clients = 8, deadlineMs = 20_000, maxRequestsPerClient = 2_000, model = "mock-small" } = options;
  const answers: ClientAnswer[] = [];
  let stopping = false;
  const listeners = new Set<() => void>();
  const loops = Array.from({ length: clients }, async (_, client) => {
    const { tenant, apiKey } = options.tenants[client % options.tenants.length]!;
    for (let n = 0; n < maxRequestsPerClient && !stopping; n += 1) {
      const preferred = client % options.gatewayCount;
      let gateway = preferred;
      let url = options.gatewayUrl(preferred);
      // The client's own gateway is down: use another, as a load balancer would.
      for (let other = 0; !url && other < options.gatewayCount; other += 1) {
        gateway = other;
        url = options.gatewayUrl(other);
      }
      if (!url) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const answer = await ask(url, {
        tenant,
        apiKey,
        gateway,
        stream: n % 2 === 1,
        deadlineMs,
        model,
        client,
        n,
      });
      answers.push(answer);
      for (const listener of listeners) listener();
    }
  });
  return {
    answers,
    answered(count, timeoutMs = 60_000) {
      const target = answers.length + count;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (answers.length < target) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(
              `stuck waiting for ${count} more answers: ${answers.length}/${target} after ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        listeners.add(check);
      });
    },
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return answers;
    },
  };
}

async function ask(
  baseUrl: string,
  request: {
    tenant: string;
    apiKey: string;
    gateway: number;
    stream: boolean;
    deadlineMs: number;
    model: string;
    client: number;
    n: number;
  },
): Promise<ClientAnswer> {
  const startedAt = Date.now();
  const answer = (fields: Pick<ClientAnswer, "outcome"> & Partial<ClientAnswer>): ClientAnswer => ({
    requestId: undefined,
    tenant: request.tenant,
    gateway: request.gateway,
    stream: request.stream,
    startedAt,
    endedAt: Date.now(),
    status: undefined,
    code: undefined,
    ...fields,
  });
  const signal = AbortSignal.timeout(request.deadlineMs);
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${request.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: request.model,
        stream: request.stream,
        messages: [{ role: "user", content: `client ${request.client} request ${request.n}` }],
      }),
      signal,
    });
  } catch {
    return answer({ outcome: signal.aborted ? "deadline" : "connection-error" });
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;
  let body: string;
  try {
    body = await response.text();
  } catch {
    return answer({
      requestId,
      status: response.status,
      outcome: signal.aborted ? "deadline" : "connection-error",
    });
  }
  const code = body.match(/"code":"(BL_[A-Z_]+)"/)?.[1];
  if (response.status === 200) {
    if (!request.stream) return answer({ requestId, status: 200, outcome: code ? "bl-error" : "ok", code });
    if (body.includes("data: [DONE]")) return answer({ requestId, status: 200, outcome: "ok" });
    // A stream that ends without [DONE] must say why, with a BL code; a bare cut is a connection error.
    if (code) return answer({ requestId, status: 200, outcome: "bl-error", code });
    return answer({ requestId, status: 200, outcome: "connection-error" });
  }
  return answer({ requestId, status: response.status, outcome: code ? "bl-error" : "unclear", code });
}
