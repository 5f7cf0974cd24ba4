/**
 * Canonical JSON: object keys in insertion order of well-formed builders, arrays as given,
 * two-space indent and a trailing newline. Renderers build objects in a fixed order, so equal
 * inputs give byte-identical files; digests are taken over this text.
 */
export function canonicalJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** sha256 is computed at the edges (node:crypto); core only fixes what is hashed. */
export type Digest = `sha256:${string}`;
