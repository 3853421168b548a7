import { z } from "zod";

/**
 * Prompt-caching breakpoints in the canonical format. OpenAI's chat format has no place for
 * Anthropic's `cache_control`, so Beamline carries it as it is, under the same field name, on
 * the canonical element each Anthropic block becomes:
 * - a content part (`text`, `image_url`) of a system, user or assistant message: the text or
 *   image block it came from (a system message then holds parts, one per system block);
 * - a `tool` message: the `tool_result` block it came from;
 * - an assistant `tool_calls` entry: the `tool_use` block it came from;
 * - a `tools` entry: the tool definition.
 * Anthropic-wire providers get it back on the same blocks; providers that cannot take it
 * (OpenAI-compatible, Gemini) never receive this field.
 */

/** The field that holds a breakpoint, wherever it stands. */
export const CACHE_CONTROL_FIELD = "cache_control";

/**
 * A breakpoint, in Anthropic's shape: `{type: "ephemeral"}`, optionally with `ttl` (`"5m"` or
 * `"1h"`). Other types and fields pass unchanged: the provider checks them.
 */
export const cacheControlSchema = z.looseObject({ type: z.string().min(1) });

/** A prompt-caching breakpoint. */
export type CacheControl = z.infer<typeof cacheControlSchema>;

/** The breakpoint a block, part, message or tool carries, or none (a malformed field reads as none). */
export function cacheControlOf(element: unknown): CacheControl | undefined {
  if (typeof element !== "object" || element === null) return undefined;
  const parsed = cacheControlSchema.safeParse((element as Record<string, unknown>)[CACHE_CONTROL_FIELD]);
  return parsed.success ? parsed.data : undefined;
}

/** `{cache_control}` when `element` carries a breakpoint, else `{}`: spread into a translation. */
export function withCacheControlOf(element: unknown): { cache_control?: CacheControl } {
  const cacheControl = cacheControlOf(element);
  return cacheControl === undefined ? {} : { [CACHE_CONTROL_FIELD]: cacheControl };
}

/** A copy of `element` without the field; the element itself when it has none. */
function withoutField<T extends object>(element: T): T {
  if (!(CACHE_CONTROL_FIELD in element)) return element;
  const { [CACHE_CONTROL_FIELD]: _dropped, ...rest } = element as Record<string, unknown>;
  return rest as T;
}

/**
 * A canonical request with every breakpoint removed (parts, messages, tool calls, tools), for
 * providers that have no prompt caching by breakpoint and may refuse unknown fields.
 * Elements without one are kept as they are.
 */
export function withoutCacheControl<
  Request extends {
    messages: Array<{ content?: unknown; tool_calls?: unknown }>;
    tools?: unknown[] | undefined;
  },
>(request: Request): Request {
  const messages = request.messages.map((message) => {
    const kept = { ...withoutField(message) };
    if (Array.isArray(message.content))
      kept.content = message.content.map((part: unknown) =>
        typeof part === "object" && part !== null ? withoutField(part) : part,
      );
    if (Array.isArray(message.tool_calls))
      kept.tool_calls = message.tool_calls.map((call: unknown) =>
        typeof call === "object" && call !== null ? withoutField(call) : call,
      );
    return kept;
  });
  const stripped = { ...request, messages };
  if (Array.isArray(request.tools))
    stripped.tools = request.tools.map((tool) =>
      typeof tool === "object" && tool !== null ? withoutField(tool) : tool,
    );
  return stripped;
}
