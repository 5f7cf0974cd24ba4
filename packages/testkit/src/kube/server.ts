import { randomBytes, randomUUID } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { selfSignedCert } from "../tls.js";
import { handleControl } from "./control.js";
import { CORE_KINDS, KindRegistry, spoKinds, storageKey } from "./kinds.js";
import { patchType } from "./patch.js";
import { exactNameFromFieldSelector, parseRoute, type ResourceRoute } from "./routes.js";
import { parseFieldSelector, parseLabelSelector, type Selector } from "./selectors.js";
import { ApiError, badRequest, methodNotAllowed, unauthorized } from "./status.js";
import { ObjectStore } from "./store.js";
import { type KindSpec, type KObject, KObjectSchema, type RequestRecord } from "./types.js";
import { rfc3339Now, Verbs } from "./verbs.js";
import { serveWatch } from "./watch.js";

export interface FakeApiServerOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Serve HTTPS with a self-signed cert made at start (needs the openssl CLI); kubeConfig() trusts it. */
  tls?: boolean;
  /** Bearer token → username. Unknown tokens get 401; no token is "system:anonymous". */
  tokens?: Record<string, string>;
  /** Kinds served besides the core ones; default spoKinds(). */
  kinds?: KindSpec[];
  /** Namespaces that exist at start; default ["default", "kube-system"]. */
  namespaces?: string[];
  /** Watch-replay window in events; older resourceVersions get 410 Expired. Default 1000. */
  historyLimit?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK. Default 1000 ms (the real server: ~1 min). */
  bookmarkIntervalMs?: number;
}

export interface FakeApiServer {
  readonly url: string;
  /** PEM CA bundle (base64) when serving HTTPS. */
  readonly caData: string | undefined;
  /** A client config for `user` (default "admin"), authenticating with that user's bearer token. */
  kubeConfig(user?: string): KubeConfig;
  /** The bearer token of `user`, minted on first use. */
  tokenFor(user: string): string;
  registerKind(spec: KindSpec): void;
  /** Every API call so far, in arrival order (control endpoints excluded). */
  readonly requests: RequestRecord[];
  clearRequests(): void;
  /** Direct store access, bypassing admission and verb semantics (still bumps RV and feeds watches). */
  get(apiVersion: string, kind: string, name: string, namespace?: string): KObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KObject[];
  put(obj: KObject): KObject;
  remove(apiVersion: string, kind: string, name: string, namespace?: string): KObject | undefined;
  readonly resourceVersion: number;
  /** Forget the watch history: watches resuming from any older RV now get 410 Expired. */
  compact(): void;
  /** End every open watch stream, forcing clients to reconnect. */
  closeWatches(): void;
  close(): Promise<void>;
}

const LIST_VERBS = new Set(["list", "watch", "deletecollection"]);
const DeleteOptions = z.looseObject({
  preconditions: z.object({ uid: z.string().optional(), resourceVersion: z.string().optional() }).optional(),
});

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const kinds = new KindRegistry();
  for (const k of [...CORE_KINDS, ...(opts.kinds ?? spoKinds())]) kinds.register(k);
  const store = new ObjectStore(opts.historyLimit ?? 1000);
  const verbs = new Verbs(store, kinds);
  const openWatches = new Set<() => void>();
  const requests: RequestRecord[] = [];
  const tokens = new Map(Object.entries(opts.tokens ?? {}));
  const bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;

  const nsKind = kinds.resolve("", "v1", "namespaces");
  for (const ns of opts.namespaces ?? ["default", "kube-system"])
    if (nsKind) verbs.create(nsKind, "", { metadata: { name: ns } });

  const requireKind = (apiVersion: string | undefined, kind: string | undefined): KindSpec => {
    const k = kinds.byKind(apiVersion ?? "", kind ?? "");
    if (!k) throw new Error(`fake apiserver: no kind ${kind} in ${apiVersion}`);
    return k;
  };
  const scope = (k: KindSpec, namespace: string | undefined) =>
    k.namespaced ? (namespace ?? "default") : "";

  function authenticate(req: IncomingMessage): string {
    const header = req.headers.authorization;
    if (!header) return "system:anonymous";
    const user = tokens.get(/^Bearer\s+(.+)$/i.exec(header)?.[1] ?? "");
    if (!user) throw unauthorized();
    return user;
  }

  function tokenFor(user: string): string {
    for (const [token, name] of tokens) if (name === user) return token;
    const token = `fake-${randomBytes(12).toString("hex")}`;
    tokens.set(token, user);
    return token;
  }

  function discovery(method: string, path: string): unknown {
    if (method !== "GET" && method !== "HEAD") throw methodNotAllowed();
    const p = path.split("/").filter((s) => s.length > 0);
    let doc: unknown;
    if (path === "/version")
      doc = {
        major: "1",
        minor: "33",
        gitVersion: "v1.33.0-fake",
        goVersion: "go1.24",
        platform: "linux/amd64",
      };
    else if (p[0] === "api" && p.length === 1) doc = kinds.apiVersions();
    else if (p[0] === "api" && p.length === 2) doc = kinds.resourceList("", p[1] ?? "");
    else if (p[0] === "apis" && p.length === 1) doc = kinds.apiGroupList();
    else if (p[0] === "apis" && p.length === 2) doc = kinds.apiGroup(p[1] ?? "");
    else if (p[0] === "apis" && p.length === 3) doc = kinds.resourceList(p[1] ?? "", p[2] ?? "");
    if (doc === undefined)
      throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    return doc;
  }

  function selectors(k: KindSpec, url: URL, pinnedName: string): Selector {
    const label = parseLabelSelector(url.searchParams.get("labelSelector"));
    const field = parseFieldSelector(url.searchParams.get("fieldSelector"), k.selectableFields ?? []);
    return (o) => label(o) && field(o) && (!pinnedName || o.metadata.name === pinnedName);
  }

  function listBody(k: KindSpec, items: KObject[], url: URL): Record<string, unknown> {
    const key = (o: KObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;
    const cont = url.searchParams.get("continue");
    if (cont) {
      const after = Buffer.from(cont, "base64url").toString("utf8");
      items = items.filter((o) => key(o) > after);
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(store.resourceVersion) };
    const limit = Number(url.searchParams.get("limit") ?? "0");
    if (limit > 0 && items.length > limit) {
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
      metadata.continue = Buffer.from(key(items.at(-1) ?? { metadata: {} })).toString("base64url");
    }
    // Built-in list items omit apiVersion/kind on the wire; custom resource items keep them.
    const wire = k.group === "" ? items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) : items;
    return {
      kind: `${k.kind}List`,
      apiVersion: k.group ? `${k.group}/${k.version}` : k.version,
      metadata,
      items: wire,
    };
  }

  async function serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    r: ResourceRoute,
    body: () => unknown,
  ): Promise<void> {
    const k = kinds.resolve(r.group, r.version, r.plural);
    const badPath =
      !k ||
      (r.subresource !== "" && !(r.subresource === "status" && k.statusSubresource)) ||
      (k.namespaced && r.name !== "" && r.namespace === "") ||
      (!k.namespaced && r.namespace !== "" && r.plural !== "namespaces");
    if (!k || badPath)
      throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    const ns = k.namespaced ? r.namespace : "";
    const sub = r.subresource === "status" ? "status" : "";
    const send = (code: number, doc: unknown) => sendJson(res, code, doc);

    switch (r.verb) {
      case "get":
        return send(200, verbs.get(k, ns, r.name));
      case "list":
        return send(200, listBody(k, verbs.list(k, ns || undefined, selectors(k, url, "")), url));
      case "watch": {
        const q = url.searchParams;
        const timeout = q.get("timeoutSeconds");
        const initial = q.get("sendInitialEvents");
        return serveWatch(
          res,
          {
            kind: k,
            namespace: ns || undefined,
            match: selectors(k, url, r.name),
            resourceVersion: q.get("resourceVersion") ?? "",
            allowBookmarks: q.get("allowWatchBookmarks") === "true",
            sendInitialEvents: initial === null ? undefined : initial === "true",
            timeoutSeconds: timeout === null || !(Number(timeout) > 0) ? undefined : Number(timeout),
          },
          { store, verbs, bookmarkIntervalMs, open: openWatches },
        );
      }
      case "create":
        if (r.name) throw methodNotAllowed();
        return send(201, verbs.create(k, r.namespace, body()));
      case "update":
        if (!r.name) throw methodNotAllowed();
        return send(200, verbs.update(k, ns, r.name, body(), sub));
      case "patch": {
        if (!r.name) throw methodNotAllowed();
        const type = patchType(req.headers["content-type"] ?? "", k.group === "");
        return send(200, verbs.patch(k, ns, r.name, type, body(), sub));
      }
      case "delete": {
        const opts = DeleteOptions.safeParse(body() ?? {});
        if (!opts.success) throw badRequest(`invalid DeleteOptions: ${opts.error.message}`);
        return send(200, verbs.delete(k, ns, r.name, opts.data.preconditions));
      }
      case "deletecollection": {
        const victims = verbs.list(k, ns || undefined, selectors(k, url, ""));
        const deleted = victims.map((o) =>
          verbs.delete(k, o.metadata.namespace ?? "", o.metadata.name ?? ""),
        );
        return send(200, listBody(k, deleted, new URL("http://x/")));
      }
      default:
        throw methodNotAllowed();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://fake");
    const text = await readBody(req);
    const body = (): unknown => {
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw badRequest("the request body is not valid JSON");
      }
    };
    if (url.pathname.startsWith("/_fake/")) {
      try {
        return sendJson(res, 200, handleControl(method, url.pathname, body(), api));
      } catch (e) {
        return sendJson(res, 400, { message: e instanceof Error ? e.message : String(e) });
      }
    }
    const record: RequestRecord = {
      verb: "",
      group: "",
      version: "",
      resource: "",
      subresource: "",
      namespace: "",
      name: "",
      nonResourceURL: "",
      user: "",
      userAgent: req.headers["user-agent"] ?? "",
      method,
      path: url.pathname + url.search,
      code: 0,
    };
    requests.push(record);
    try {
      record.user = authenticate(req);
      const route = parseRoute(method, url);
      if (!route) {
        record.verb = method.toLowerCase();
        record.nonResourceURL = url.pathname;
        if (["/healthz", "/livez", "/readyz"].includes(url.pathname)) {
          res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
          return;
        }
        return sendJson(res, 200, discovery(method, url.pathname));
      }
      Object.assign(record, {
        verb: route.verb,
        group: route.group,
        version: route.version,
        resource: route.plural,
        subresource: route.subresource,
        namespace: route.namespace,
        name:
          route.name ||
          (LIST_VERBS.has(route.verb)
            ? exactNameFromFieldSelector(url.searchParams.get("fieldSelector"))
            : ""),
      });
      await serveResource(req, res, url, route, body);
    } catch (e) {
      const err =
        e instanceof ApiError
          ? e
          : new ApiError(500, "InternalError", e instanceof Error ? e.message : String(e));
      if (res.headersSent) res.end();
      else sendJson(res, err.code, err.toStatus());
    } finally {
      record.code = res.statusCode;
    }
  }

  const tls = opts.tls ? selfSignedCert() : undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => void handle(req, res);
  const server: Server = tls
    ? createHttpsServer({ key: tls.key, cert: tls.cert }, onRequest)
    : createHttpServer(onRequest);
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `${tls ? "https" : "http"}://${host}:${port}`;
  const caData = tls ? Buffer.from(tls.cert).toString("base64") : undefined;

  const api: FakeApiServer = {
    url,
    caData,
    kubeConfig(user = "admin") {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        // client-node 1.x refuses plain http:// unless skipTLSVerify is set (config.ts createAgent).
        clusters: [{ name: "fake", server: url, skipTLSVerify: !caData, ...(caData ? { caData } : {}) }],
        users: [{ name: user, token: tokenFor(user) }],
        contexts: [{ name: "fake", cluster: "fake", user, namespace: "default" }],
        currentContext: "fake",
      });
      return kc;
    },
    tokenFor,
    registerKind: (spec) => kinds.register(spec),
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    get(apiVersion, kind, name, namespace) {
      const k = requireKind(apiVersion, kind);
      const o = store.get(storageKey(k), scope(k, namespace), name);
      return o && verbs.view(k, o);
    },
    list(apiVersion, kind, namespace) {
      return verbs.list(requireKind(apiVersion, kind), namespace, () => true);
    },
    put(obj) {
      const k = requireKind(obj.apiVersion, obj.kind);
      const { apiVersion: _a, kind: _k, ...o } = KObjectSchema.parse(structuredClone(obj));
      if (!o.metadata.name) throw new Error("fake apiserver: put needs metadata.name");
      const ns = scope(k, o.metadata.namespace);
      if (k.namespaced) o.metadata.namespace = ns;
      else delete o.metadata.namespace;
      const old = store.get(storageKey(k), ns, o.metadata.name);
      o.metadata.uid ??= old?.metadata.uid ?? randomUUID();
      o.metadata.creationTimestamp ??= old?.metadata.creationTimestamp ?? rfc3339Now();
      o.metadata.generation ??= old?.metadata.generation ?? 1;
      return verbs.view(k, store.write(storageKey(k), o));
    },
    remove(apiVersion, kind, name, namespace) {
      const k = requireKind(apiVersion, kind);
      const o = store.remove(storageKey(k), scope(k, namespace), name);
      return o && verbs.view(k, o);
    },
    get resourceVersion() {
      return store.resourceVersion;
    },
    compact: () => store.compact(),
    closeWatches() {
      for (const stop of [...openWatches]) stop();
    },
    async close() {
      api.closeWatches();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}

function sendJson(res: ServerResponse, code: number, doc: unknown): void {
  res.writeHead(code, { "Content-Type": "application/json" }).end(JSON.stringify(doc));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
