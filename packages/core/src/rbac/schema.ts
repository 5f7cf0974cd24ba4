/**
 * A tiny builder for Kubernetes *structural* OpenAPI v3 schemas (every node typed, no $ref, no
 * anyOf/oneOf), plus a validator for the subset we emit. Pure: no I/O, no dependencies.
 */
export interface Schema {
  type: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  enum?: string[];
  pattern?: string;
  format?: string;
  maxLength?: number;
  minLength?: number;
  maxItems?: number;
  minItems?: number;
  maxProperties?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}
type Opt = Omit<Schema, "type" | "properties" | "items" | "required">;

export const DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
export const DNS_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

export const s = {
  str: (o: Opt = {}): Schema => ({ type: "string", ...o }),
  enm: (values: readonly string[], o: Opt = {}): Schema => ({ type: "string", enum: [...values], ...o }),
  int: (o: Opt = {}): Schema => ({ type: "integer", ...o }),
  bool: (o: Opt = {}): Schema => ({ type: "boolean", ...o }),
  label: (o: Opt = {}): Schema => ({ type: "string", maxLength: 63, pattern: DNS_LABEL_PATTERN, ...o }),
  name: (o: Opt = {}): Schema => ({ type: "string", maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, ...o }),
  arr: (items: Schema, maxItems: number, o: Opt = {}): Schema => ({ type: "array", items, maxItems, ...o }),
  map: (values: Schema, maxProperties: number, o: Opt = {}): Schema => ({
    type: "object",
    additionalProperties: values,
    maxProperties,
    ...o,
  }),
  obj: (properties: Record<string, Schema>, required: string[] = [], o: Opt = {}): Schema => ({
    type: "object",
    properties,
    ...(required.length > 0 ? { required } : {}),
    ...o,
  }),
};

/** Structural-schema violations (apiextensions.k8s.io/v1 rules we can check offline). */
export function structuralErrors(schema: unknown, path = "<root>"): string[] {
  if (typeof schema !== "object" || schema === null) return [`${path}: not an object`];
  const n = schema as Record<string, unknown>;
  const errs: string[] = [];
  for (const banned of ["$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$schema"])
    if (banned in n) errs.push(`${path}: ${banned} is not allowed`);
  const t = n.type;
  if (!["object", "array", "string", "integer", "number", "boolean"].includes(String(t)))
    errs.push(`${path}: missing or invalid type`);
  if (t === "array") {
    if (n.items === undefined) errs.push(`${path}: array without items`);
    else errs.push(...structuralErrors(n.items, `${path}[]`));
  }
  if (n.properties !== undefined) {
    if (t !== "object") errs.push(`${path}: properties on a non-object`);
    for (const [k, v] of Object.entries(n.properties as Record<string, unknown>))
      errs.push(...structuralErrors(v, `${path}.${k}`));
  }
  if (n.additionalProperties !== undefined) {
    if (n.properties !== undefined) errs.push(`${path}: properties and additionalProperties together`);
    errs.push(...structuralErrors(n.additionalProperties, `${path}.*`));
  }
  if (n.required !== undefined) {
    const props = (n.properties ?? {}) as Record<string, unknown>;
    for (const r of n.required as string[])
      if (!(r in props)) errs.push(`${path}: required ${r} not declared`);
  }
  if (n.enum !== undefined && t !== "string") errs.push(`${path}: enum on a non-string`);
  return errs;
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/**
 * Validates `value` against the schema subset above. Unknown fields are errors (the API server
 * would silently prune them; for our fixtures a pruned field means the CRD is missing something).
 */
export function validate(schema: Schema, value: unknown, path = ""): string[] {
  const at = path || "<root>";
  const t = typeOf(value);
  if (!(t === schema.type || (schema.type === "number" && t === "integer")))
    return [`${at}: expected ${schema.type}, got ${t}`];
  const errs: string[] = [];
  if (typeof value === "string") {
    if (schema.enum && !schema.enum.includes(value))
      errs.push(`${at}: ${JSON.stringify(value)} not in [${schema.enum.join(", ")}]`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value))
      errs.push(`${at}: does not match ${schema.pattern}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      errs.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.minLength !== undefined && value.length < schema.minLength)
      errs.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) errs.push(`${at}: not a date-time`);
  } else if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errs.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errs.push(`${at}: above ${schema.maximum}`);
  } else if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      errs.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.minItems !== undefined && value.length < schema.minItems)
      errs.push(`${at}: fewer than ${schema.minItems} items`);
    if (
      schema["x-kubernetes-list-type"] === "set" &&
      new Set(value.map((x) => JSON.stringify(x))).size !== value.length
    )
      errs.push(`${at}: duplicate items in a set`);
    value.forEach((x, i) => {
      if (schema.items) errs.push(...validate(schema.items, x, `${path}[${i}]`));
    });
  } else if (t === "object") {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errs.push(`${at}: missing required ${r}`);
    if (schema.maxProperties !== undefined && Object.keys(obj).length > schema.maxProperties)
      errs.push(`${at}: more than ${schema.maxProperties} properties`);
    for (const [k, v] of Object.entries(obj)) {
      // ObjectMeta is validated by the API server itself, not by the CRD schema.
      if (path === "" && k === "metadata") continue;
      const sub = schema.properties?.[k] ?? schema.additionalProperties;
      if (sub) errs.push(...validate(sub, v, `${path}.${k}`));
      else if (!schema["x-kubernetes-preserve-unknown-fields"]) errs.push(`${at}: unknown field ${k}`);
    }
  }
  return errs;
}
