import { createServer, type IncomingMessage, request, type Server } from "node:http";

/**
 * An HTTP proxy between a daemon and the API server that can kill the daemon at an exact point of
 * its conversation: when armed, the first request `matches` accepts triggers `kill` and is never
 * forwarded (the daemon dies just before that write reaches the API). Watches stream through.
 */
export class KillSwitchProxy {
  private armed: ((req: IncomingMessage) => boolean) | undefined;
  private onMatch: (() => void) | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<KillSwitchProxy> {
    const to = new URL(target);
    let self: KillSwitchProxy | undefined;
    const server = createServer((req, res) => {
      const p = self;
      if (p?.armed?.(req) === true) {
        const kill = p.onMatch;
        p.armed = undefined;
        p.onMatch = undefined;
        kill?.();
        req.socket.destroy();
        return;
      }
      const upstream = request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          // Now, not with the first body bytes: a watch may send none for a while, and the client
          // times out waiting for the headers.
          res.flushHeaders();
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("no proxy address");
    self = new KillSwitchProxy(server, `http://127.0.0.1:${addr.port}`);
    return self;
  }

  /** Calls `kill` at the first request for which `matches` is true (once). */
  arm(matches: (req: IncomingMessage) => boolean, kill: () => void): void {
    this.armed = matches;
    this.onMatch = kill;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
