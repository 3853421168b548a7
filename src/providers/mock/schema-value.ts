/**
 * The mock provider's structured output: a deterministic JSON value valid for a JSON schema,
 * for tool-call arguments and `response_format: json_schema` answers. Pure.
 *
 * It follows the keywords clients' schemas use (type, properties, required, items, enum,
 * const, anyOf/oneOf/allOf, $ref into $defs/definitions, minimum/maximum, minLength/maxLength,
 * minItems/maxItems, common string formats). `pattern` is not followed: a string it constrains
 * is the seed text, which may not match.
 */

type Schema = Record<string, unknown>;

/** Deepest nesting followed; a recursive schema ends there with the simplest value. */
const MAX_DEPTH = 8;

const FORMAT_VALUES: Record<string, string> = {
  "date-time": "2026-01-01T00:00:00Z",
  date: "2026-01-01",
  time: "00:00:00Z",
  email: "mock@example.com",
  uri: "https://example.com/mock",
  url: "https://example.com/mock",
  uuid: "00000000-0000-4000-8000-000000000000",
};

function asSchema(value: unknown): Schema | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Schema) : undefined;
}

function resolveRef(root: Schema, ref: string): Schema | undefined {
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!match) return ref === "#" ? root : undefined;
  return asSchema(asSchema(root[match[1]!])?.[decodeURIComponent(match[2]!)]);
}

function typeOf(schema: Schema): string | undefined {
  const type = schema["type"];
  if (typeof type === "string") return type;
  if (Array.isArray(type)) return type.find((t) => t !== "null") ?? type[0];
  if (schema["properties"] !== undefined) return "object";
  if (schema["items"] !== undefined) return "array";
  return undefined;
}

function numberFor(schema: Schema, integer: boolean): number {
  const min = typeof schema["minimum"] === "number" ? schema["minimum"] : undefined;
  const exclusiveMin =
    typeof schema["exclusiveMinimum"] === "number" ? schema["exclusiveMinimum"] : undefined;
  const max = typeof schema["maximum"] === "number" ? schema["maximum"] : undefined;
  let value = min ?? (exclusiveMin !== undefined ? exclusiveMin + 1 : 0);
  if (max !== undefined && value > max) value = max;
  return integer ? Math.ceil(value) : value;
}

function stringFor(schema: Schema, seed: string): string {
  const format = typeof schema["format"] === "string" ? FORMAT_VALUES[schema["format"]] : undefined;
  let text = format ?? seed;
  const minLength = typeof schema["minLength"] === "number" ? schema["minLength"] : 0;
  const maxLength = typeof schema["maxLength"] === "number" ? schema["maxLength"] : undefined;
  while (text.length < minLength) text += text.length > 0 ? text : "x";
  if (maxLength !== undefined && text.length > maxLength) text = text.slice(0, maxLength);
  return text.length < minLength ? text.padEnd(minLength, "x") : text;
}

function valueAt(schema: Schema, root: Schema, seed: string, depth: number): unknown {
  if (depth > MAX_DEPTH) return null;
  if (typeof schema["$ref"] === "string") {
    const target = resolveRef(root, schema["$ref"]);
    return target === undefined ? null : valueAt(target, root, seed, depth + 1);
  }
  if ("const" in schema) return schema["const"];
  if (Array.isArray(schema["enum"]) && schema["enum"].length > 0) return schema["enum"][0];
  for (const keyword of ["anyOf", "oneOf"] as const) {
    const options = schema[keyword];
    if (Array.isArray(options) && options.length > 0) {
      const first = options.map(asSchema).find((option) => option !== undefined && option["type"] !== "null");
      return valueAt(first ?? asSchema(options[0]) ?? {}, root, seed, depth + 1);
    }
  }
  if (Array.isArray(schema["allOf"])) {
    // Merge the parts' properties: the common use is composing object schemas.
    const merged: Schema = { ...schema, allOf: undefined };
    for (const part of schema["allOf"].map(asSchema)) {
      if (part === undefined) continue;
      Object.assign(merged, part, {
        properties: { ...asSchema(merged["properties"]), ...asSchema(part["properties"]) },
      });
    }
    delete merged["allOf"];
    return valueAt(merged, root, seed, depth + 1);
  }
  switch (typeOf(schema)) {
    case "object": {
      const properties = asSchema(schema["properties"]) ?? {};
      const names = Object.keys(properties);
      // A tool with no declared parameters still gets the prompt, as the mock always did.
      if (names.length === 0) return schema["additionalProperties"] === false ? {} : { input: seed };
      const value: Record<string, unknown> = {};
      for (const name of names)
        value[name] = valueAt(asSchema(properties[name]) ?? {}, root, seed, depth + 1);
      return value;
    }
    case "array": {
      const minItems = typeof schema["minItems"] === "number" ? schema["minItems"] : 1;
      const maxItems = typeof schema["maxItems"] === "number" ? schema["maxItems"] : minItems;
      const count = Math.min(Math.max(minItems, 1), Math.max(maxItems, minItems));
      const items = asSchema(schema["items"]) ?? {};
      return Array.from({ length: count }, () => valueAt(items, root, seed, depth + 1));
    }
    case "string":
      return stringFor(schema, seed);
    case "integer":
      return numberFor(schema, true);
    case "number":
      return numberFor(schema, false);
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      return seed;
  }
}

/**
 * A JSON value valid for `schema` (a JSON schema object; anything else reads as `{}`), its
 * strings filled with `seed` (the mock uses an excerpt of the prompt). Deterministic.
 */
export function valueForSchema(schema: unknown, seed: string): unknown {
  const root = asSchema(schema) ?? {};
  return valueAt(root, root, seed, 0);
}
