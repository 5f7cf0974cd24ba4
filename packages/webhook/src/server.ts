import { createServer, type Server } from "node:https";
import { type HandlerDeps, maxBody, review } from "./handler.js";

export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
}

/** HTTPS server for `POST /mutate-v1-pod-recording` plus `/healthz`. */
export function webhookServer(tls: TlsFiles, deps: HandlerDeps): Server {
  return createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (req.method === "GET" && (req.url === "/healthz" || req.url === "/readyz")) {
      res.writeHead(200).end("ok");
      return;
    }
    if (req.method !== "POST" || req.url?.split("?")[0] !== "/mutate-v1-pod-recording") {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.writableEnded) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400, { "content-type": "text/plain" }).end("invalid JSON");
        return;
      }
      const out = review(body, deps);
      if ("error" in out) {
        res.writeHead(400, { "content-type": "text/plain" }).end(out.error);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
    });
  });
}
