import { Encoder } from "cbor-x";
import fc from "fast-check";
import { DEV_TENANT } from "../../src/tenancy/index.js";

/**
 * Generators of hostile inputs for Beamline's doors: HTTP requests to both front doors and the
 * admin API, raw bytes for the HTTP parser, and stored-event payloads for the decoder. Each
 * starts from a valid input (built from the request schemas) and applies mutations: wrong
 * types, unknown fields, huge strings, deep nesting, unicode, empty and non-JSON bodies,
 * wrong content types.
 */

/** One HTTP request a fuzz case sends with fetch. */
export interface HttpCase {
  kind: "http";
  target: "openai" | "anthropic" | "admin";
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Bytes written as they are to the gateway's TCP port (malformed HTTP needs a raw socket). */
export interface RawCase {
  kind: "raw";
  target: "raw";
  bytes: Buffer;
}

/** An event payload and its content-type header, as a consumer would read it from a stream. */
export interface EventCase {
  kind: "event";
  target: "events";
  payload: Uint8Array;
  contentType: string | undefined;
}

export type FuzzCase = HttpCase | RawCase | EventCase;

/** What the cases authenticate with. */
export interface FuzzCredentials {
  devKey: string;
  adminToken: string;
}

/** Deeper than the gateway's bound (64) and deep enough to overflow a recursive encoder. */
const DEPTHS = [2, 63, 65, 500, 5_000, 20_000];
/** A string of `size` characters; sizes straddle the body limit (1 MiB by default). */
const HUGE_SIZES = [10_000, 200_000, 1_100_000];

const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: "binary" });
const unicodeText = fc.string({ unit: "binary", maxLength: 64 });

/** A deep chain of objects or arrays around `leaf`, written directly (no recursion anywhere). */
export function nested(depth: number, leaf = "1", asArrays = false): string {
  return asArrays
    ? `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`
    : `${'{"x":'.repeat(depth)}${leaf}${"}".repeat(depth)}`;
}

const openAiMessage = fc.record(
  {
    role: fc.constantFrom("system", "developer", "user", "assistant"),
    content: fc.oneof(unicodeText, fc.constant([{ type: "text", text: "hi" }])),
    name: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: ["role", "content"] },
);

/** A chat-completions body the schema accepts (the model may still be unknown: 404). */
export const validOpenAiBody = fc.record(
  {
    model: fc.oneof({ weight: 6, arbitrary: fc.constant("mock-small") }, fc.string({ maxLength: 12 })),
    messages: fc.array(openAiMessage, { minLength: 1, maxLength: 3 }),
    stream: fc.boolean(),
    max_tokens: fc.integer({ min: 1, max: 64 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    user: fc.string({ maxLength: 16 }),
  },
  { requiredKeys: ["model", "messages"] },
);

const anthropicContent = fc.oneof(
  unicodeText,
  fc.array(fc.record({ type: fc.constant("text"), text: unicodeText }), { minLength: 1, maxLength: 2 }),
);

/** A Messages API body the schema accepts. */
export const validAnthropicBody = fc.record(
  {
    model: fc.oneof({ weight: 6, arbitrary: fc.constant("mock-small") }, fc.string({ maxLength: 12 })),
    max_tokens: fc.integer({ min: 1, max: 64 }),
    messages: fc.array(fc.record({ role: fc.constantFrom("user", "assistant"), content: anthropicContent }), {
      minLength: 1,
      maxLength: 3,
    }),
    system: unicodeText,
    stream: fc.boolean(),
  },
  { requiredKeys: ["model", "max_tokens", "messages"] },
);

type Json = Record<string, unknown>;

/** One change to a decoded body; applied to a copy. */
const mutation: fc.Arbitrary<(body: Json) => Json> = fc.oneof(
  // A known field gets a value of another type.
  fc
    .tuple(fc.constantFrom("model", "messages", "stream", "max_tokens", "temperature", "system"), anyJson)
    .map(([field, value]) => (body: Json) => ({ ...body, [field]: value })),
  // An unknown field, any value.
  fc.tuple(fc.string({ maxLength: 12 }), anyJson).map(([field, value]) => (body: Json) => ({
    ...body,
    [field]: value,
  })),
  // A required field removed.
  fc.constantFrom("model", "messages", "max_tokens").map((field) => (body: Json) => {
    const { [field]: _removed, ...rest } = body;
    return rest;
  }),
  // A message whose fields are of the wrong type.
  anyJson.map((value) => (body: Json) => ({ ...body, messages: [value] })),
  // A huge message.
  fc
    .tuple(fc.constantFrom(...HUGE_SIZES), fc.constantFrom("a", "é", "😀"))
    .map(([size, char]) => (body: Json) => ({
      ...body,
      messages: [{ role: "user", content: char.repeat(size) }],
    })),
);

/** The body as bytes: usually JSON of a mutated valid body, sometimes something else. */
function bodyText(valid: fc.Arbitrary<Json>): fc.Arbitrary<string | Uint8Array> {
  const mutated = fc
    .tuple(valid, fc.array(mutation, { maxLength: 3 }))
    .map(([body, changes]) => JSON.stringify(changes.reduce((b, change) => change(b), body)));
  return fc.oneof(
    { weight: 10, arbitrary: mutated },
    // An unknown field nested deep, spliced into an otherwise valid body.
    {
      weight: 3,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...DEPTHS), fc.boolean())
        .map(
          ([body, depth, arrays]) =>
            `${JSON.stringify(body).slice(0, -1)},"deep":${nested(depth, "1", arrays)}}`,
        ),
    },
    { weight: 1, arbitrary: fc.constantFrom("", " ", "null", "[]", "0", '"text"', "{", '{"model":', "{}}") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constant('{"__proto__":{"polluted":true},"model":"mock-small"}') },
  );
}

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "Application/JSON",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/cbor",
      "",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) },
);

function withContentType(headers: Record<string, string>, type: string): Record<string, string> {
  return type === "" ? headers : { ...headers, "content-type": type };
}

/** POST /v1/chat/completions with the dev key. */
export function openAiCases(credentials: FuzzCredentials): fc.Arbitrary<HttpCase> {
  return fc.tuple(bodyText(validOpenAiBody), contentType).map(([body, type]) => ({
    kind: "http",
    target: "openai",
    method: "POST",
    path: "/v1/chat/completions",
    headers: withContentType({ authorization: `Bearer ${credentials.devKey}` }, type),
    body,
  }));
}

/** POST /v1/messages with the dev key (as `x-api-key`, Anthropic's header). */
export function anthropicCases(credentials: FuzzCredentials): fc.Arbitrary<HttpCase> {
  return fc.tuple(bodyText(validAnthropicBody), contentType).map(([body, type]) => ({
    kind: "http",
    target: "anthropic",
    method: "POST",
    path: "/v1/messages",
    headers: withContentType({ "x-api-key": credentials.devKey, "anthropic-version": "2023-06-01" }, type),
    body,
  }));
}

/** Tenant ids for admin cases: a few fuzz tenants and arbitrary strings, never the dev tenant. */
const adminTenant = fc
  .oneof(fc.constantFrom("fz-a", "fz-b", "fz-c"), fc.string({ unit: "binary", maxLength: 80 }))
  .filter((id) => id !== DEV_TENANT);

const adminBody = fc.oneof(
  anyJson.map((value) => JSON.stringify(value)),
  fc
    .record(
      {
        id: adminTenant,
        name: unicodeText,
        label: unicodeText,
        reason: unicodeText,
        models: fc.array(fc.string()),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc.constantFrom(...DEPTHS).map((depth) => nested(depth)),
  fc.string({ maxLength: 100 }),
);

/** The admin API's routes with arbitrary parameters and bodies; the admin token mostly right. */
export function adminCases(credentials: FuzzCredentials): fc.Arbitrary<HttpCase> {
  const route = fc.oneof(
    fc.constantFrom(
      ["GET", "/tenants"],
      ["GET", "/keys"],
      ["GET", "/catalog"],
      ["PUT", "/catalog"],
      ["POST", "/tenants"],
    ),
    fc
      .tuple(
        fc.constantFrom(
          ["GET", "/tenants/:t"],
          ["POST", "/tenants/:t/disable"],
          ["POST", "/tenants/:t/enable"],
          ["POST", "/tenants/:t/keys"],
          ["GET", "/tenants/:t/keys"],
          ["GET", "/tenants/:t/spend"],
          ["GET", "/tenants/:t/events"],
          ["GET", "/policies/:t"],
          ["PUT", "/policies/:t"],
          ["GET", "/policies/:t/history"],
          ["GET", "/keys/:t"],
          ["POST", "/keys/:t/rotate"],
          ["POST", "/keys/:t/revoke"],
          ["DELETE", "/tenants/:t"],
        ),
        adminTenant,
      )
      .map(([[method, path], tenant]) => [method, path!.replace(":t", encodeURIComponent(tenant))]),
  );
  const query = fc.oneof(
    { weight: 4, arbitrary: fc.constant("") },
    fc
      .string({ maxLength: 40 })
      .map((q) => `?${encodeURIComponent(q)}=${encodeURIComponent(q)}&since=${q.length}`),
  );
  const token = fc.oneof(
    { weight: 8, arbitrary: fc.constant(credentials.adminToken) },
    fc.constant(credentials.devKey),
    fc.string({ maxLength: 20 }).filter((s) => /^[\x21-\x7e]*$/.test(s)),
  );
  return fc
    .tuple(route, query, token, adminBody, contentType)
    .map(([[method, path], q, bearer, body, type]) => {
      const hasBody = method === "POST" || method === "PUT";
      return {
        kind: "http",
        target: "admin",
        method: method!,
        path: `/admin/v1${path}${q}`,
        headers: withContentType({ authorization: `Bearer ${bearer}` }, hasBody ? type : ""),
        ...(hasBody ? { body } : {}),
      };
    });
}

const headerName = fc.oneof(
  fc.constantFrom(
    "host",
    "content-type",
    "x-api-key",
    "authorization",
    "content-length",
    "transfer-encoding",
  ),
  fc.string({ maxLength: 12 }),
);
const headerValue = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }));

/** Malformed (and sometimes well-formed) HTTP/1.1 requests, each ending its header block. */
export const rawCases: fc.Arbitrary<RawCase> = fc
  .oneof(
    // A request line and headers from random parts.
    fc
      .tuple(
        fc.constantFrom("GET", "POST", "PUT", "G@T", "", "post", "CONNECT", "PRI"),
        fc.constantFrom("/v1/chat/completions", "/v1/messages", "/healthz", "*", "", "/%zz", "http://x/y"),
        fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "HTTX/1.1", ""),
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }),
      )
      .map(([method, target, version, headers]) => {
        const lines = headers
          .filter(([name]) => !/^(content-length|transfer-encoding)$/i.test(name))
          .map(([name, value]) => `${name}: ${value}`);
        return `${method} ${target} ${version}\r\nhost: fuzz\r\n${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`;
      }),
    // Oversized headers: over Node's 16 KiB limit.
    fc
      .integer({ min: 17_000, max: 40_000 })
      .map((size) => `GET /healthz HTTP/1.1\r\nhost: fuzz\r\nx-big: ${"a".repeat(size)}\r\n\r\n`),
    // Conflicting framing.
    fc.constantFrom(
      "POST /v1/messages HTTP/1.1\r\nhost: fuzz\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
      "POST /v1/messages HTTP/1.1\r\nhost: fuzz\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /v1/messages HTTP/1.1\r\nhost: fuzz\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
      "POST /v1/messages HTTP/1.1\r\nhost: fuzz\r\ncontent-length: -1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nhost: fuzz\r\n bad-fold: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\nbad header: x\r\n\r\n",
      "GET / HTTP/1.1\nhost: fuzz\n\n",
    ),
    // Bytes that are no HTTP at all.
    fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .map((bytes) => `${Buffer.from(bytes).toString("latin1")}\r\n\r\n`),
  )
  .map((text) => ({ kind: "raw", target: "raw", bytes: Buffer.from(text, "latin1") }));

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

/** `depth` nested one-element CBOR arrays (major type 4, length 1) around the integer 1. */
function deepCbor(depth: number): Uint8Array {
  return Buffer.concat([Buffer.alloc(depth, 0x81), Buffer.from([0x01])]);
}

const DEEP_MARKER = "@@DEEP@@";

/**
 * A valid request.accepted envelope whose request holds an unknown field (requests keep those:
 * providers add parameters faster than gateways) with `deep` as its value.
 */
function acceptedWithDeep(deep: unknown) {
  return {
    id: "r:accepted",
    type: "request.accepted",
    v: 1,
    tenant: "t",
    requestId: "r",
    correlationId: "r",
    time: "2026-01-01T00:00:00.000Z",
    data: {
      request: { model: "mock-small", messages: [{ role: "user", content: "hi" }], deep },
      frontDoor: "nats",
      stream: false,
    },
  };
}

/** {@link acceptedWithDeep} in CBOR, the unknown field nested `depth` deep. */
function envelopeWithDeepCbor(depth: number): Uint8Array {
  const bytes = Buffer.from(cbor.encode(acceptedWithDeep(DEEP_MARKER)));
  const marker = Buffer.from(cbor.encode(DEEP_MARKER));
  const at = bytes.indexOf(marker);
  return Buffer.concat([bytes.subarray(0, at), deepCbor(depth), bytes.subarray(at + marker.length)]);
}

const eventTypes = fc.constantFrom("request.accepted", "tenant.created", "usage.recorded", "nope", "");

/** Event envelopes near valid ones, and payloads that are not events at all. */
export const eventCases: fc.Arbitrary<EventCase> = fc
  .tuple(
    fc.oneof(
      fc
        .record({
          id: fc.string({ maxLength: 20 }),
          type: eventTypes,
          v: fc.oneof(fc.constantFrom(1, 2, 0, -1, 1.5), anyJson),
          tenant: fc.string({ maxLength: 10 }),
          requestId: fc.string({ maxLength: 10 }),
          correlationId: fc.string({ maxLength: 10 }),
          time: fc.string({ maxLength: 10 }),
          data: fc.oneof(
            anyJson,
            fc.record({ name: unicodeText }),
            validOpenAiBody.map((request) => ({ request })),
          ),
        })
        .map((envelope) => ({ value: envelope as unknown })),
      fc.constantFrom(...DEPTHS).map((depth) => ({ text: nested(depth, "1", true) })),
      fc.constantFrom(...DEPTHS).map((depth) => ({
        text: JSON.stringify(acceptedWithDeep(DEEP_MARKER)).replace(`"${DEEP_MARKER}"`, nested(depth)),
      })),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes })),
      // Deep CBOR arrays alone, and inside a valid envelope's data.
      fc.constantFrom(...DEPTHS).map((depth) => ({ bytes: deepCbor(depth) })),
      fc.constantFrom(...DEPTHS).map((depth) => ({ bytes: envelopeWithDeepCbor(depth) })),
    ),
    fc.constantFrom(
      "application/cbor",
      "application/json",
      "Application/JSON; charset=utf-8",
      undefined,
      "text/x",
    ),
  )
  .map(([source, contentType]) => {
    let payload: Uint8Array;
    if ("bytes" in source) payload = source.bytes;
    else if ("text" in source) payload = new TextEncoder().encode(source.text);
    else {
      const json = contentType?.toLowerCase().includes("json") === true;
      payload = json ? new TextEncoder().encode(JSON.stringify(source.value)) : cbor.encode(source.value);
    }
    return { kind: "event", target: "events", payload, contentType };
  });
