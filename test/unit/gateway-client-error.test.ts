import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCodes } from "../../src/errors/index.js";
import { clientErrorOf } from "../../src/gateway/client-error.js";

describe("answers to requests Node's HTTP parser refused", () => {
  const errorWith = (code: string) => Object.assign(new Error(code), { code });

  it("are 431 BL_HEADERS_TOO_LARGE for oversized headers", () => {
    const error = clientErrorOf(errorWith("HPE_HEADER_OVERFLOW"));
    assert.equal(error.code, "BL_HEADERS_TOO_LARGE");
    assert.equal(error.httpStatus, 431);
  });

  it("are 408 BL_CLIENT_TIMEOUT for a request not received in time", () => {
    assert.equal(clientErrorOf(errorWith("ERR_HTTP_REQUEST_TIMEOUT")).httpStatus, 408);
  });

  it("are 400 BL_MALFORMED_HTTP, naming the parser's error, for anything else", () => {
    const error = clientErrorOf(errorWith("HPE_INVALID_METHOD"));
    assert.equal(error.code, "BL_MALFORMED_HTTP");
    assert.equal(error.httpStatus, ErrorCodes.BL_MALFORMED_HTTP.httpStatus);
    assert.match(error.message, /HPE_INVALID_METHOD/);
  });
});
