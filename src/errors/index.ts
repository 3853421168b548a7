export { BeamlineError, isBeamlineError, toBeamlineError } from "./beamline-error.js";
export type { BeamlineErrorOptions } from "./beamline-error.js";
export { ErrorCodes } from "./codes.js";
export type { ErrorCode, ErrorCodeSpec } from "./codes.js";
