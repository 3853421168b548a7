import { z } from "zod";
import { BeamlineError } from "../errors/index.js";

/** What the environment loader and the operations docs need to know about one setting. */
export interface SettingMeta {
  /** The environment variable that sets it; declared once, here. */
  env: string;
  /** One line for docs/operations.md. */
  doc: string;
  /** The unit, when the name's suffix (`Ms`, `Bytes`, `Days`) does not say it. */
  unit?: string;
  /** How the docs show the default when the value itself is not meaningful (e.g. the process id). */
  defaultDoc?: string;
}

/** Every setting of the config schema, with its environment variable. */
export const settingsRegistry = z.registry<SettingMeta>();

/** Declares a config field's environment variable and docs next to the field. */
export function setting<T extends z.ZodType>(schema: T, meta: SettingMeta): T {
  settingsRegistry.add(schema, meta);
  return schema;
}

/** One leaf of the config schema that the environment can set. */
export interface SettingInfo extends SettingMeta {
  path: string[];
  /** The default, as the docs show it ("–" when none). */
  defaultText: string;
  unitText: string;
  /** A list value: the variable holds comma-separated items. */
  isList: boolean;
}

type AnySchema = z.core.$ZodType;

/** The object inside `.default()`, `.prefault()`, `.optional()` wrappers, if any. */
function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: AnySchema };
    if ((def.type === "default" || def.type === "prefault" || def.type === "optional") && def.innerType) {
      current = def.innerType;
    } else {
      return current;
    }
  }
}

function defaultOf(schema: AnySchema): unknown {
  const def = schema._zod.def as { type: string; defaultValue?: unknown };
  return def.type === "default" ? def.defaultValue : undefined;
}

function formatDefault(value: unknown): string {
  if (value === undefined) return "–";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

function unitFromName(name: string): string {
  if (name.endsWith("Ms")) return "ms";
  if (name.endsWith("Bytes")) return "bytes";
  if (name.endsWith("Days")) return "days";
  return "–";
}

/**
 * Walks the config schema and lists every setting the environment can set, in schema order.
 * Throws when a leaf lacks its environment variable, or two leaves share one, so a new
 * field cannot be forgotten by the loader or the docs.
 */
export function settingsOf(schema: AnySchema, path: string[] = []): SettingInfo[] {
  const inner = unwrap(schema);
  const meta = settingsRegistry.get(schema as z.ZodType);
  if (meta === undefined && inner._zod.def.type === "object") {
    const shape = (inner._zod.def as unknown as { shape: Record<string, AnySchema> }).shape;
    const settings = Object.entries(shape).flatMap(([key, field]) => settingsOf(field, [...path, key]));
    if (path.length === 0) {
      const seen = new Set<string>();
      for (const { env } of settings) {
        if (seen.has(env)) throw new BeamlineError("BL_INTERNAL", `config schema: two settings read ${env}`);
        seen.add(env);
      }
    }
    return settings;
  }
  if (meta === undefined)
    throw new BeamlineError(
      "BL_INTERNAL",
      `config schema: ${path.join(".")} declares no environment variable`,
    );
  return [
    {
      ...meta,
      path,
      defaultText: meta.defaultDoc ?? formatDefault(defaultOf(schema)),
      unitText: meta.unit ?? unitFromName(path.at(-1) ?? ""),
      isList: inner._zod.def.type === "array",
    },
  ];
}

/**
 * The config input the environment describes: each set variable's raw text at its path (a
 * list variable split at commas). Empty variables count as unset. Zod coerces the rest.
 */
export function inputFromEnv(
  settings: readonly SettingInfo[],
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const { env: name, path, isList } of settings) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const value = isList
      ? raw
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : raw;
    let target = input;
    for (const key of path.slice(0, -1)) {
      target[key] ??= {};
      target = target[key] as Record<string, unknown>;
    }
    target[path.at(-1) as string] = value;
  }
  return input;
}

/** The configuration table of docs/operations.md, one row per setting. */
export function settingsTable(settings: readonly SettingInfo[]): string {
  const rows = settings.map(
    (s) => `| \`${s.env}\` | \`${s.path.join(".")}\` | ${s.defaultText} | ${s.unitText} | ${s.doc} |`,
  );
  return [
    "| variable | setting | default | unit | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
