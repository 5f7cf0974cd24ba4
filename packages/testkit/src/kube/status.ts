/**
 * metav1.Status errors with the reasons, codes and message wording of kube-apiserver, so
 * clients that branch on `reason`/`code` (or log the message) behave as against a real cluster.
 */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** "pods" for core, "profilerecordings.security-profiles-operator.x-k8s.io" otherwise. */
export interface Qualified {
  group: string;
  plural: string;
}
const qualified = (r: Qualified): string => (r.group ? `${r.plural}.${r.group}` : r.plural);
const details = (r: Qualified, name: string): StatusDetails => ({
  name,
  ...(r.group ? { group: r.group } : {}),
  kind: r.plural,
});

export const notFound = (r: Qualified, name: string): ApiError =>
  new ApiError(404, "NotFound", `${qualified(r)} "${name}" not found`, details(r, name));

export const alreadyExists = (r: Qualified, name: string): ApiError =>
  new ApiError(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, details(r, name));

export const conflict = (r: Qualified, name: string): ApiError =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(r, name),
  );

export const invalid = (
  r: Qualified & { kind: string },
  name: string,
  field: string,
  msg: string,
): ApiError =>
  new ApiError(
    422,
    "Invalid",
    `${r.group ? `${r.kind}.${r.group}` : r.kind} "${name}" is invalid: ${field}: ${msg}`,
    {
      name,
      ...(r.group ? { group: r.group } : {}),
      kind: r.kind,
      causes: [{ reason: "FieldValueInvalid", message: msg, field }],
    },
  );

export const badRequest = (msg: string): ApiError => new ApiError(400, "BadRequest", msg);
export const forbidden = (msg: string): ApiError => new ApiError(403, "Forbidden", msg);
export const unauthorized = (): ApiError => new ApiError(401, "Unauthorized", "Unauthorized");
export const methodNotAllowed = (): ApiError =>
  new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
export const unsupportedMediaType = (type: string): ApiError =>
  new ApiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format: ${type}`);
/** Watch from a compacted resourceVersion; the real server reports reason Expired, code 410. */
export const expired = (requested: number, oldest: number): ApiError =>
  new ApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
