import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { publishPolicy } from "../../src/policies/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { waitFor } from "../support/wait.js";

/**
 * Every metric name deploy/grafana/beamline.json queries, in one place: a renamed or removed
 * series breaks this test instead of silently emptying a dashboard panel. Names are as they
 * appear on /metrics (histogram series with their `_bucket` / `_count` suffix).
 */
const DASHBOARD_METRICS = [
  "beamline_http_requests_total",
  "beamline_request_duration_seconds_bucket",
  "beamline_request_duration_seconds_count",
  "beamline_provider_latency_seconds_bucket",
  "beamline_provider_attempts_total",
  "beamline_admissions_total",
  "beamline_envelope_rejections_total",
  "beamline_tokens_total",
  "beamline_cost_nano_usd_total",
  "beamline_routing_decisions_total",
  "beamline_stage_messages_total",
  "beamline_stage_duration_seconds_bucket",
  "beamline_time_to_first_token_seconds_bucket",
  "beamline_time_per_output_token_seconds_bucket",
  "gen_ai_client_operation_duration_seconds_count",
  "beamline_breaker_state",
  "beamline_cache_requests_total",
  "beamline_hedges_total",
  "beamline_consumer_pending_messages",
  "beamline_consumer_ack_pending_messages",
  "beamline_projection_lag_messages",
  "beamline_consumer_lag_sampled_timestamp_seconds",
] as const;

/**
 * Series with no sample until something is refused (a quota limit, a forged envelope): for
 * them the test checks the family is declared, not that traffic produced a sample.
 */
const ONLY_AFTER_REFUSALS = new Set(["beamline_admissions_total", "beamline_envelope_rejections_total"]);

const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"]);

/**
 * The metric names a PromQL expression reads. Label matchers, ranges, strings, grouping
 * clauses and Grafana variables are removed first; what is left that is an identifier not
 * called as a function and not a keyword is a metric name.
 */
function metricNamesOf(expr: string): string[] {
  const labelValues = /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(expr.trim());
  if (labelValues) return [labelValues[1]!];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?[\w]+\}?/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call || PROMQL_KEYWORDS.has(name!)) continue;
    names.add(name!);
  }
  return [...names];
}

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function dashboardExpressions(): Array<{ where: string; expr: string }> {
  const dashboard = JSON.parse(
    readFileSync(new URL("../../deploy/grafana/beamline.json", import.meta.url), "utf8"),
  );
  const found: Array<{ where: string; expr: string }> = [];
  const visit = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr) found.push({ where: `panel "${panel.title}"`, expr: target.expr });
      }
      visit(panel.panels ?? []);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    if (variable.type === "query" && query) found.push({ where: `variable $${variable.name}`, expr: query });
  }
  return found;
}

describe("the PromQL name extraction", () => {
  it("finds the metric and nothing else", () => {
    assert.deepEqual(
      metricNamesOf(
        'sum by (le, tenant) (rate(x_bucket{outcome!="ok",tenant=~"$tenant"}[$__rate_interval])) * 3600 / 1e9 + on(a) y_total offset 5m',
      ),
      ["x_bucket", "y_total"],
    );
    assert.deepEqual(metricNamesOf("label_values(beamline_tokens_total, tenant)"), ["beamline_tokens_total"]);
  });
});

describe("the Grafana dashboard queries only series Beamline exports", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  let exposition: string;

  before(async () => {
    // Lag gauges are read on an interval by the projector role: the shortest one allowed.
    beamline = await startTestBeamline({ metrics: { lagIntervalMs: 1_000 } });
    // A cache and a hedge for the dev tenant, so the cache and hedge panels have samples.
    await publishPolicy(
      beamline.store,
      "dev",
      { cache: { mode: "exact", ttlSeconds: 300 }, hedge: { afterMs: 10_000 } },
      new Date(),
    );
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "hello dashboard" }];
    // The policy reaches the worker through the projector: ask until the answer is a cache hit.
    await waitFor(
      async () => {
        const { response } = await client.chat.completions
          .create({ model: "mock-small", temperature: 0, messages })
          .withResponse();
        return response.headers.get("x-beamline-cache") === "hit";
      },
      { what: "a cache hit under the dev tenant's cache policy", timeoutMs: 30_000, intervalMs: 200 },
    );
    // Streamed: the time to first token and per output token.
    const stream = await client.chat.completions.create({ model: "mock-small", messages, stream: true });
    for await (const _chunk of stream);
    // A refused key: an HTTP error status.
    await fetch(`${beamline.baseUrl}/v1/models`, {
      headers: { authorization: "Bearer wrong-key-0123456789" },
    });
    exposition = await waitForSeries(beamline.metricsUrl, [
      // Billing records cost a moment after the answer.
      "beamline_cost_nano_usd_total{",
      "beamline_hedges_total{",
      // Read apart from the requests: at scrape (breakers) and on the lag interval.
      'beamline_breaker_state{provider="mock",model="mock-small"}',
      "beamline_projection_lag_messages{",
    ]);
  });
  after(async () => beamline?.stop());

  it("uses only names in DASHBOARD_METRICS, and uses every one of them", () => {
    const used = new Set<string>();
    for (const { where, expr } of dashboardExpressions()) {
      const names = metricNamesOf(expr);
      assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
      for (const name of names) {
        assert.ok(
          (DASHBOARD_METRICS as readonly string[]).includes(name),
          `${where} reads ${name}, not listed`,
        );
        used.add(name);
      }
    }
    assert.deepEqual([...used].sort(), [...DASHBOARD_METRICS].sort());
  });

  it("finds every listed name on /metrics after real traffic", () => {
    const families = new Map<string, string>();
    for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(name!, type!);
    const sampled = new Set([...exposition.matchAll(/^([a-zA-Z_:][\w:]*)[{ ]/gm)].map((m) => m[1]!));
    for (const name of DASHBOARD_METRICS) {
      const base = name.replace(/_(bucket|count|sum)$/, "");
      const declared = families.get(name) ?? (families.get(base) === "histogram" ? "histogram" : undefined);
      assert.ok(declared, `${name} is not exported (no # TYPE line for it or its histogram)`);
      if (!ONLY_AFTER_REFUSALS.has(name)) assert.ok(sampled.has(name), `${name} has no sample after traffic`);
    }
  });
});

/** The metrics text once every one of `markers` appears in it. */
function waitForSeries(metricsUrl: string, markers: string[]): Promise<string> {
  return waitFor(
    async () => {
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return markers.every((marker) => text.includes(marker)) ? text : undefined;
    },
    { what: `/metrics to show ${markers.join(", ")}`, timeoutMs: 20_000, intervalMs: 100 },
  );
}
