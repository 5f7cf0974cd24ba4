/**
 * URL → request attributes, following apiserver's RequestInfoFactory so the request log carries
 * the same (verb, group, version, resource, namespace, name, subresource) an RBAC authorizer sees.
 */
export interface ResourceRoute {
  group: string;
  version: string;
  plural: string;
  /** As RequestInfo reports it: for /api/v1/namespaces/foo this is "foo" even though Namespace is cluster-scoped. */
  namespace: string;
  name: string;
  subresource: string;
  verb: string;
}

/** Subresources of a namespace object, which must not be mistaken for a resource inside it. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/** Returns undefined for non-resource paths (/api, /apis/<g>/<v>, /version, /healthz …). */
export function parseRoute(method: string, url: URL): ResourceRoute | undefined {
  let parts = url.pathname
    .split("/")
    .filter((p) => p.length > 0)
    .map((p) => decodeURIComponent(p));
  let group: string;
  let version: string | undefined;
  if (parts[0] === "api") {
    group = "";
    version = parts[1];
    parts = parts.slice(2);
  } else if (parts[0] === "apis") {
    group = parts[1] ?? "";
    version = parts[2];
    parts = parts.slice(3);
  } else return undefined;
  if (version === undefined || parts.length === 0) return undefined;

  // Deprecated /watch/ path prefix: still served, and still logged as verb "watch".
  const watchPath = parts[0] === "watch";
  if (watchPath) parts = parts.slice(1);
  let namespace = "";
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1] ?? "";
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
  }
  const [plural = "", name = "", subresource = "", ...extra] = parts;
  if (extra.length > 0) return undefined;

  const watchParam = url.searchParams.get("watch");
  const wantsWatch = watchPath || watchParam === "true" || watchParam === "1";
  let verb: string;
  switch (method) {
    case "GET":
    case "HEAD":
      verb = watchPath ? "watch" : name ? "get" : wantsWatch ? "watch" : "list";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name ? "delete" : "deletecollection";
      break;
    default:
      verb = "";
  }
  return { group, version, plural, namespace, name, subresource, verb };
}

/** A fieldSelector pinning metadata.name names the object for RBAC, as the real RequestInfo does. */
export function exactNameFromFieldSelector(fieldSelector: string | null): string {
  for (const term of (fieldSelector ?? "").split(",")) {
    const m = /^metadata\.name\s*==?\s*(.+)$/.exec(term.trim());
    if (m?.[1]) return m[1];
  }
  return "";
}
