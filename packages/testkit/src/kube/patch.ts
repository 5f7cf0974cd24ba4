import { z } from "zod";
import { ApiError, badRequest, unsupportedMediaType } from "./status.js";

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const JsonPatchOp = z.discriminatedUnion("op", [
  z.object({ op: z.enum(["add", "replace", "test"]), path: z.string(), value: z.unknown() }),
  z.object({ op: z.literal("remove"), path: z.string() }),
  z.object({ op: z.enum(["move", "copy"]), path: z.string(), from: z.string() }),
]);
const JsonPatchDoc = z.array(JsonPatchOp);

/** "/a/b~1c" → ["a", "b/c"] (RFC 6901). */
function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badRequest(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function parentOf(doc: Json, parts: string[], path: string): { parent: Json; key: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
    if (cur === undefined) throw new ApiError(422, "Invalid", `json patch: path "${path}" does not exist`);
  }
  return { parent: cur, key: parts.at(-1) ?? "" };
}

function read(doc: Json, path: string): Json {
  const parts = pointer(path);
  if (parts.length === 0) return doc;
  const { parent, key } = parentOf(doc, parts, path);
  const v = Array.isArray(parent) ? parent[Number(key)] : isObject(parent) ? parent[key] : undefined;
  if (v === undefined) throw new ApiError(422, "Invalid", `json patch: path "${path}" does not exist`);
  return v;
}

function remove(doc: Json, path: string): Json {
  const value = read(doc, path);
  const { parent, key } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else if (isObject(parent)) delete parent[key];
  return value;
}

function add(doc: Json, path: string, value: Json, replace: boolean): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length)
      throw new ApiError(422, "Invalid", `json patch: index out of range at "${path}"`);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isObject(parent)) parent[key] = value;
  else throw new ApiError(422, "Invalid", `json patch: path "${path}" does not exist`);
  return doc;
}

/** RFC 6902 JSON patch, which is what client-node's generated patch methods send by default. */
export function jsonPatch(target: Json, ops: Json): Json {
  const parsed = JsonPatchDoc.safeParse(ops);
  if (!parsed.success) throw badRequest(`invalid JSON patch: ${parsed.error.message}`);
  let doc = structuredClone(target);
  for (const op of parsed.data) {
    switch (op.op) {
      case "add":
        doc = add(doc, op.path, structuredClone(op.value), false);
        break;
      case "replace":
        read(doc, op.path);
        doc = add(doc, op.path, structuredClone(op.value), true);
        break;
      case "remove":
        remove(doc, op.path);
        break;
      case "test":
        if (JSON.stringify(read(doc, op.path)) !== JSON.stringify(op.value))
          throw new ApiError(422, "Invalid", `json patch: test failed at "${op.path}"`);
        break;
      case "move":
        doc = add(doc, op.path, remove(doc, op.from), false);
        break;
      case "copy":
        doc = add(doc, op.path, structuredClone(read(doc, op.from)), false);
        break;
    }
  }
  return doc;
}

export type PatchType = "json" | "merge" | "strategic";

/**
 * PATCH Content-Type → patch type, checked before the body is parsed (an apply-patch+yaml body is
 * not JSON). Strategic merge is refused for custom resources, like the real server does.
 */
export function patchType(contentType: string, builtin: boolean): PatchType {
  const type = contentType.split(";")[0]?.trim() ?? "";
  if (type === "application/json-patch+json") return "json";
  if (type === "application/merge-patch+json") return "merge";
  if (type === "application/strategic-merge-patch+json" && builtin) return "strategic";
  throw unsupportedMediaType(type);
}

/** Strategic merge is approximated by merge patch: lists replace instead of merging by key. */
export function applyPatch(target: Json, type: PatchType, body: Json): Json {
  return type === "json" ? jsonPatch(target, body) : mergePatch(target, body);
}
