import { ApiException, type KubeConfig } from "@kubernetes/client-node";
import fetch, { Headers } from "node-fetch";

/**
 * JSON calls to the Kubernetes REST API with a KubeConfig's credentials, TLS and proxy (the same
 * `applyToFetchOptions` + node-fetch path client-node's `Watch` uses), failing with client-node's
 * `ApiException` so `apiFailure` reads both alike.
 *
 * Why not the generated `CoreV1Api`/`CustomObjectsApi`: importing either brings every generated
 * model of client-node (2.9 MB of the recorder's 4.4 MB bundle, all of it evaluated at start-up)
 * for the handful of calls a daemon makes; the daemons validate what they read with zod anyway.
 */
export class KubeRest {
  constructor(private readonly kubeConfig: KubeConfig) {}

  /** GET `path` (`query` values left undefined are omitted); the parsed JSON body. */
  get(path: string, query: Readonly<Record<string, string | number | undefined>> = {}): Promise<unknown> {
    return this.#call("GET", path, query, undefined);
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.#call("POST", path, {}, body);
  }

  put(path: string, body: unknown): Promise<unknown> {
    return this.#call("PUT", path, {}, body);
  }

  async #call(
    method: string,
    path: string,
    query: Readonly<Record<string, string | number | undefined>>,
    body: unknown,
  ): Promise<unknown> {
    const server = this.kubeConfig.getCurrentCluster()?.server;
    if (server === undefined) throw new Error("the kubeconfig has no current cluster");
    const url = new URL(server.replace(/\/+$/, "") + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const init = await this.kubeConfig.applyToFetchOptions({ method });
    const headers = new Headers(init.headers);
    headers.set("Accept", "application/json");
    if (body !== undefined) headers.set("Content-Type", "application/json");
    const res = await fetch(url, {
      ...init,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): kept as text for the error below.
    }
    if (res.status < 200 || res.status > 299) {
      throw new ApiException(
        res.status,
        `${method} ${url.pathname} failed`,
        parsed,
        Object.fromEntries(res.headers),
      );
    }
    return parsed;
  }
}

/** A path segment (namespace, name) for a URL: names are validated upstream, this is belt and braces. */
export const seg = (s: string): string => encodeURIComponent(s);
