import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * The HTTP side every daemon shares: Prometheus metrics on /metrics, liveness on /healthz and
 * readiness on /readyz (ready once the caller says its caches are synced). Metric labels are
 * fixed enums chosen by the code, never values from events, so cardinality stays bounded.
 */
export function observabilityServer(registry: Registry, ready: () => boolean): Server {
  return createServer((req, res) => {
    const url = req.url?.split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (url === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n");
    } else if (url === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
}

export function newRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: "secprof_" });
  return registry;
}
