import { SubjectRoots } from "../events/index.js";
import { HEALTH_SUBJECT_ROOT } from "./health-keys.js";
import { StreamNames } from "./names.js";

/**
 * Which stream stores a subject, by its root (every Beamline stream takes `<root>.>`). The
 * store needs it to read back a write-once slot it was told is taken (`EventStore.append`).
 * The notary's checkpoint stream is missing on purpose: its root belongs to the audit module,
 * and checkpoints are written with an expected stream sequence, never write-once.
 */
const STREAM_OF_ROOT: ReadonlyMap<string, string> = new Map([
  [SubjectRoots.requests, StreamNames.requests],
  [SubjectRoots.usage, StreamNames.usage],
  [SubjectRoots.config, StreamNames.config],
  [SubjectRoots.deadLetter, StreamNames.deadLetter],
  [SubjectRoots.quota, StreamNames.quota],
  [SubjectRoots.ingress, StreamNames.ingress],
  [HEALTH_SUBJECT_ROOT, StreamNames.health],
]);

/** The stream that stores `subject`, or undefined when no Beamline stream does (or it is the notary's). */
export function streamStoring(subject: string): string | undefined {
  // Roots are two tokens: `bl.req`, `bl.usage`, …
  const second = subject.indexOf(".", subject.indexOf(".") + 1);
  if (second < 0) return undefined;
  return STREAM_OF_ROOT.get(subject.slice(0, second));
}
