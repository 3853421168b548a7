import type { FastifyInstance } from "fastify";
import { BeamlineError } from "../errors/index.js";
import { jsonNestingExceeds } from "../events/index.js";

/**
 * The deepest nesting of objects and arrays a JSON body may have. Far above what any chat or
 * admin request needs (tool parameter schemas nest a handful of levels), far below what a
 * recursive encoder survives: an unknown field nested 5,000 deep passed validation (unknown
 * fields pass through) and overflowed the stack of the CBOR encoder that stores the event.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Replaces Fastify's JSON body parser with one that first refuses bodies nested deeper than
 * {@link MAX_JSON_DEPTH} (400 `BL_BAD_REQUEST`), then parses like Fastify's own (prototype
 * poisoning refused, an empty body refused), so nothing downstream — validation, the event
 * encoder, extensions — ever walks an unbounded tree. A compressed body is refused (415) with
 * that reason, rather than read as broken JSON: answers are compressed, requests are not.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const coding = request.headers["content-encoding"]?.trim().toLowerCase();
    if (coding && coding !== "identity") {
      done(
        new BeamlineError(
          "BL_UNSUPPORTED_MEDIA_TYPE",
          `The request body is sent with Content-Encoding ${JSON.stringify(coding.slice(0, 40))}; send it as plain JSON.`,
        ),
        undefined,
      );
      return;
    }
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (jsonNestingExceeds(text, MAX_JSON_DEPTH)) {
      done(
        new BeamlineError(
          "BL_BAD_REQUEST",
          `The request body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep.`,
        ),
        undefined,
      );
      return;
    }
    parseJson(request, text, done);
  });
}
