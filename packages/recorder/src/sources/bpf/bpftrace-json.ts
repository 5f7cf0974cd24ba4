import type { z } from "zod";

/** Why a line of bpftrace's JSON output (`-f json`) is not usable. */
export type JsonLineDrop =
  /** The line is not JSON. */
  | "invalid_json"
  /** JSON of a known bpftrace output type, but not the shape the program prints. */
  | "schema"
  /** A valid bpftrace output type the program never prints (printf, helper_error, ...). */
  | "unexpected";

/** The bpftrace output types secprof's programs print. */
const KNOWN_TYPES: ReadonlySet<string> = new Set(["attached_probes", "lost_events", "map", "value"]);

export type JsonLine<T> =
  | { kind: "blank" }
  | { kind: "line"; value: T }
  | { kind: "drop"; reason: JsonLineDrop; detail: string };

/** A drop's detail, cut to 200 characters (a bad line can be a whole map). */
export function dropDetail(detail: string): string {
  return detail.length > 200 ? `${detail.slice(0, 200)}…` : detail;
}

/** One stdout line of a bpftrace program, validated by `schema` and classified. Never throws. */
export function readJsonLine<S extends z.ZodType>(line: string, schema: S): JsonLine<z.output<S>> {
  const text = line.trim();
  if (text === "") return { kind: "blank" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "drop", reason: "invalid_json", detail: dropDetail(text) };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { kind: "line", value: parsed.data };
  const type = typeof json === "object" && json !== null && "type" in json ? json.type : undefined;
  if (typeof type === "string" && !KNOWN_TYPES.has(type))
    return { kind: "drop", reason: "unexpected", detail: dropDetail(text) };
  return {
    kind: "drop",
    reason: "schema",
    detail: dropDetail(`${parsed.error.issues[0]?.message ?? "invalid"}: ${text}`),
  };
}
