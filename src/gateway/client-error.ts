import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { BeamlineError } from "../errors/index.js";
import { openAiErrorBody } from "./error-body.js";

/** The Beamline error for an HTTP request Node's parser refused before any route saw it. */
export function clientErrorOf(error: NodeJS.ErrnoException): BeamlineError {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return new BeamlineError(
        "BL_HEADERS_TOO_LARGE",
        "The request's headers are larger than the server accepts (16 KiB in all by default); send fewer or shorter headers.",
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new BeamlineError("BL_CLIENT_TIMEOUT", "The request was not received completely in time.");
    default:
      return new BeamlineError(
        "BL_MALFORMED_HTTP",
        `The request is not valid HTTP/1.1 (${error.code ?? "parse error"}); nothing was processed.`,
      );
  }
}

/** Writes a complete error answer on a raw socket and closes it. */
function writeAnswer(socket: Socket, beamlineError: BeamlineError): void {
  const body = JSON.stringify(openAiErrorBody(beamlineError));
  const status = beamlineError.httpStatus;
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      "connection: close\r\n\r\n" +
      body,
  );
}

/**
 * Node's `connect` handler: Beamline is no proxy, so a CONNECT request gets the answer any
 * unknown endpoint gets (Node would otherwise close the connection without a word).
 */
export function answerConnect(request: IncomingMessage, socket: Socket): void {
  if (socket.writable) {
    writeAnswer(socket, new BeamlineError("BL_NOT_FOUND", `Unknown endpoint CONNECT ${request.url ?? ""}.`));
  }
  socket.destroy();
}

/**
 * Node's `clientError` handler (Fastify's `clientErrorHandler` option): answers malformed
 * HTTP, oversized headers and client timeouts with Beamline's error body and stable code
 * instead of Node's bare status line, then closes the connection (after a parse error the
 * rest of the byte stream cannot be trusted to frame another request).
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  // When an answer on this connection has already begun, a second status line would corrupt
  // it; Node's own handler makes the same check (`_httpMessage` is the response in progress).
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inProgress?.headersSent) writeAnswer(socket, clientErrorOf(error));
  socket.destroy(error);
}
