export type { BeamlineErrorOptions } from "./beamline-error.js";
export { BeamlineError, isBeamlineError, toBeamlineError } from "./beamline-error.js";
export type { ErrorCode, ErrorCodeSpec } from "./codes.js";
export { ErrorCodes } from "./codes.js";
