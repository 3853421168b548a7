// The Beamline web console: plain ES module, no build step, no dependency. Every value from the
// server is written with textContent (never parsed as HTML), and the admin token lives in this
// tab's sessionStorage and in an Authorization header only: never in a URL, never in a cookie.

const TOKEN_KEY = "beamline.console.token";
/** Wait before reconnecting a dropped live stream, ms; doubles up to the maximum. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

const byId = (id) => document.getElementById(id);
let live; // AbortController of the open live stream

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authorized(init = {}) {
  return { ...init, headers: { ...init.headers, authorization: `Bearer ${token()}` } };
}

function setStatus(text) {
  byId("status").textContent = text;
}

function showConsole(signedIn) {
  byId("login").hidden = signedIn;
  byId("console").hidden = !signedIn;
  byId("sign-out").hidden = !signedIn;
}

/** A table row of text cells; a cell may be a Node (a button) or {text, className}. */
function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell);
    else if (cell !== null && typeof cell === "object") {
      td.textContent = cell.text;
      td.className = cell.className;
    } else td.textContent = cell === undefined || cell === null ? "–" : String(cell);
    tr.append(td);
  }
  return tr;
}

function fillTable(id, rows) {
  byId(id)
    .querySelector("tbody")
    .replaceChildren(...rows);
}

const ms = (value) => (value === null || value === undefined ? "–" : `${Math.round(value)} ms`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");

function render(snapshot) {
  const { window: w } = snapshot;
  byId("rate").textContent = w.ratePerSecond.toFixed(2);
  byId("p50").textContent = ms(w.p50Ms);
  byId("p95").textContent = ms(w.p95Ms);
  byId("failed").textContent = `${w.failed} / ${w.ended}`;
  fillTable(
    "recent",
    snapshot.recent.map((r) => {
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = r.requestId;
      open.dataset.requestId = r.requestId;
      open.addEventListener("click", () => openTimeline(r.tenant, r.requestId));
      return row([
        time(r.acceptedAt ?? r.endedAt),
        r.tenant,
        open,
        { text: r.errorCode ? `${r.outcome} (${r.errorCode})` : r.outcome, className: r.outcome },
        r.model ? `${r.provider}/${r.model}` : undefined,
        ms(r.latencyMs),
        r.promptTokens === undefined ? undefined : `${r.promptTokens} / ${r.completionTokens}`,
      ]);
    }),
  );
  fillTable(
    "spend",
    snapshot.spend.map((s) => row([s.tenant, s.todayUsd, s.monthUsd, s.monthRequests])),
  );
  fillTable(
    "providers",
    snapshot.providers.map((p) =>
      row([
        p.provider,
        p.model,
        { text: p.breaker.replace("_", "-"), className: p.breaker },
        `${(p.errorRate * 100).toFixed(1)} %`,
        ms(p.latencyP95Ms),
      ]),
    ),
  );
  fillTable(
    "consumers",
    snapshot.consumers.map((c) => row([c.stream, c.durable, c.pending, c.ackPending])),
  );
  fillTable(
    "tenants",
    snapshot.tenants.map((t) =>
      row([
        t.name && t.name !== t.id ? `${t.id} (${t.name})` : t.id,
        { text: t.status, className: t.status === "active" ? "closed" : "open" },
        t.keys.map((k) => `${k.prefix}… ${k.label ?? k.keyId} [${k.status}]`).join(", ") || "none",
      ]),
    ),
  );
  byId("updated").textContent = time(snapshot.at);
  byId("system-at").textContent = time(snapshot.systemAt);
}

/** Reads `event:`/`data:` blocks of a text/event-stream body and hands each data to `onEvent`. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      if (data) onEvent(JSON.parse(data));
      end = buffer.indexOf("\n\n");
    }
  }
}

async function follow() {
  live?.abort();
  const controller = new AbortController();
  live = controller;
  let retryMs = RETRY_FIRST_MS;
  while (!controller.signal.aborted) {
    try {
      const response = await fetch("/admin/v1/console/live", authorized({ signal: controller.signal }));
      if (response.status === 401) return signOut("The admin token was refused.");
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setStatus("live");
      retryMs = RETRY_FIRST_MS;
      await readEvents(response.body, render);
      setStatus("reconnecting…");
    } catch (error) {
      if (controller.signal.aborted) return;
      setStatus(`reconnecting… (${error.message})`);
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  }
}

/** A one-line account of an event: the fields that tell what happened, none of the content. */
function describe(line) {
  const d = line.data ?? {};
  switch (line.type) {
    case "request.accepted":
      return `via ${d.frontDoor}${d.stream ? ", streamed" : ""}`;
    case "route.decided":
      return (d.candidates ?? [])
        .map((c) => `${c.provider}/${c.model}`)
        .slice(0, 3)
        .join(" → ");
    case "attempt.succeeded":
    case "attempt.failed":
      return `attempt ${d.attempt}: ${d.provider}/${d.model}, ${ms(d.durationMs)}${d.error ? `, ${d.error.code}` : ""}`;
    case "request.completed":
      return `${d.provider}/${d.model}, ${d.usage?.promptTokens} in / ${d.usage?.completionTokens} out`;
    case "request.failed":
      return `${d.error?.code}: ${d.error?.message}`;
    case "usage.recorded":
      return d.costNanoUsd === undefined ? d.outcome : `${d.outcome}, ${d.costNanoUsd} nano-USD`;
    default:
      return "";
  }
}

/** Shows one request's history as stored in the log (the admin history export, NDJSON). */
async function openTimeline(tenant, requestId) {
  const section = byId("timeline");
  const list = byId("timeline-events");
  section.hidden = false;
  byId("timeline-of").textContent = `${tenant} / ${requestId}`;
  list.replaceChildren();
  const url = `/admin/v1/tenants/${encodeURIComponent(tenant)}/events?request=${encodeURIComponent(requestId)}`;
  const response = await fetch(url, authorized());
  if (!response.ok) {
    list.append(row([`Could not read the history: HTTP ${response.status}`]));
    return;
  }
  const lines = (await response.text())
    .split("\n")
    .filter(Boolean)
    .map((text) => JSON.parse(text));
  for (const line of lines) {
    const item = document.createElement("li");
    item.className = "timeline-event";
    const type = document.createElement("code");
    type.textContent = line.type;
    item.append(`${time(line.time)} `, type, ` ${describe(line)}`);
    list.append(item);
  }
  section.scrollIntoView({ block: "nearest" });
}

function signOut(message = "") {
  live?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  showConsole(false);
  setStatus("signed out");
  byId("login-error").textContent = message;
}

function start() {
  byId("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("token");
    sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    byId("login-error").textContent = "";
    showConsole(true);
    void follow();
  });
  byId("sign-out").addEventListener("click", () => signOut());
  byId("timeline-close").addEventListener("click", () => {
    byId("timeline").hidden = true;
  });
  if (token()) {
    showConsole(true);
    void follow();
  }
}

start();
