import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Real audit lines (see fixtures/audit/README.md for how and where each file was captured). */
export const AUDIT_FIXTURES = fileURLToPath(new URL("../fixtures/audit/", import.meta.url));

/** A fixture's lines, decoded byte-per-char (latin1) exactly as the recorder reads the log. */
export function fixtureLines(rel: string): string[] {
  return readFileSync(`${AUDIT_FIXTURES}${rel}`, "latin1")
    .split("\n")
    .filter((l) => l.length > 0);
}
