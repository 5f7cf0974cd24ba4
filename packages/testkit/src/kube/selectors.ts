import { badRequest } from "./status.js";
import type { KObject } from "./types.js";

export type Selector = (obj: KObject) => boolean;

const matchAll: Selector = () => true;

/** Splits on commas outside parentheses: "a in (x,y),b" → ["a in (x,y)", "b"]. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out.filter((t) => t.length > 0);
}

const KEY = "[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?";
const SET_TERM = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);
const EQ_TERM = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`);
const EXISTS_TERM = new RegExp(`^(!?)\\s*(${KEY})$`);

/** Label selector grammar of k8s.io/apimachinery/pkg/labels (=, ==, !=, in, notin, key, !key). */
export function parseLabelSelector(raw: string | null): Selector {
  if (!raw) return matchAll;
  const preds = splitTerms(raw).map((term): Selector => {
    const labels = (o: KObject) => o.metadata.labels ?? {};
    const set = SET_TERM.exec(term);
    if (set) {
      const key = set[1] ?? "";
      const values = new Set((set[4] ?? "").split(",").map((v) => v.trim()));
      // notin, like !=, also matches objects that lack the label entirely.
      return set[3] === "in"
        ? (o) => key in labels(o) && values.has(labels(o)[key] ?? "")
        : (o) => !(key in labels(o)) || !values.has(labels(o)[key] ?? "");
    }
    const eq = EQ_TERM.exec(term);
    if (eq) {
      const [, key = "", , op, value = ""] = eq;
      return op === "!="
        ? (o) => labels(o)[key] !== value
        : (o) => key in labels(o) && labels(o)[key] === value;
    }
    const ex = EXISTS_TERM.exec(term);
    if (ex) {
      const key = ex[2] ?? "";
      return ex[1] === "!" ? (o) => !(key in labels(o)) : (o) => key in labels(o);
    }
    throw badRequest(`unable to parse requirement: invalid label selector term "${term}"`);
  });
  return (o) => preds.every((p) => p(o));
}

/** Dotted-path lookup; a missing or non-scalar field compares as "" like the server's field sets. */
function fieldValue(obj: KObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === "string" || typeof cur === "number" || typeof cur === "boolean" ? String(cur) : "";
}

/** Field selector (=, ==, !=), limited to the fields the kind declares selectable, as the server does. */
export function parseFieldSelector(raw: string | null, selectable: readonly string[]): Selector {
  if (!raw) return matchAll;
  const allowed = new Set(["metadata.name", "metadata.namespace", ...selectable]);
  const preds = splitTerms(raw).map((term): Selector => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector term "${term}"`);
    const [, field = "", op, value = ""] = m;
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    return op === "!=" ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value;
  });
  return (o) => preds.every((p) => p(o));
}
