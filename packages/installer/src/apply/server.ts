import { chmod, unlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { HostWriteError, type HostWriter } from "../host-writer.js";
import { type KernelPolicy, LoadError, type PolicyKind, type Validator } from "../kernel.js";
import { GENERATED_MARKS, guardFor } from "../render.js";
import { NameError } from "../safe-path.js";
import { type ApplyError, ApplyRequest, type ApplyResponse, MAX_MESSAGE_BYTES } from "./protocol.js";

/**
 * `installer-apply`: the narrow privileged half of the installer. It owns /etc/apparmor.d and
 * /etc/selinux.d and the kernel loaders, and serves the unprivileged installer over a unix socket
 * (see protocol.ts). Before a file is written or loaded it is checked here again, whatever the
 * client says: the name passes the host allow-list (HostWriter.fileFor), the text carries secprof's
 * generated mark in its first line and compiles with the real compiler under that name, and
 * secprof's guard keeps any file it did not write from being replaced or removed. It never
 * touches seccomp files and has no Kubernetes credentials.
 *
 * What it cannot check is the approval: the unprivileged installer decides that (see
 * docs/security-model.md, "Installer privilege split", for what a compromised installer can do).
 */

export interface ApplyServerOptions {
  socket: string;
  /** Socket file mode; access is meant to be limited by the directory (0750 root:<installer gid>). */
  socketMode?: number;
  writer: HostWriter;
  validator: Validator;
  kernel: Record<PolicyKind, KernelPolicy>;
  onRequest?: (op: string, kind: string, ok: boolean, message?: string) => void;
}

function errorOf(err: unknown): ApplyError {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 8192);
  if (err instanceof HostWriteError)
    return { type: "HostWriteError", message, code: err.code.slice(0, 64), path: err.path.slice(0, 8192) };
  if (err instanceof LoadError) return { type: "LoadError", message };
  if (err instanceof NameError) return { type: "NameError", message };
  return { type: "Internal", message };
}

class Refusal extends Error {}

export async function startApplyServer(opts: ApplyServerOptions): Promise<Server> {
  const check = async (kind: PolicyKind, name: string, text: string) => {
    opts.writer.fileFor({ kind, name }); // NameError for a name the host allow-list refuses
    if (!text.startsWith(GENERATED_MARKS[kind])) throw new Refusal("the text does not carry secprof's mark");
    const v = await opts.validator.validate(kind, name, text);
    if (!v.ok) throw new Refusal(`does not compile: ${v.message}`);
  };

  const handle = async (raw: string): Promise<{ res: ApplyResponse; op: string; kind: string }> => {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { res: { ok: false, error: { type: "Refused", message: "not JSON" } }, op: "invalid", kind: "" };
    }
    const parsed = ApplyRequest.safeParse(json);
    if (!parsed.success)
      return {
        res: {
          ok: false,
          error: { type: "Refused", message: parsed.error.issues[0]?.message ?? "invalid request" },
        },
        op: "invalid",
        kind: "",
      };
    const req = parsed.data;
    return { res: await execute(req), op: req.op, kind: req.kind };
  };

  const execute = async (req: ApplyRequest): Promise<ApplyResponse> => {
    try {
      switch (req.op) {
        case "unavailable": {
          const reason = await opts.kernel[req.kind].unavailable();
          return reason === undefined ? { ok: true } : { ok: true, reason };
        }
        case "read": {
          const e = await opts.writer.read({ kind: req.kind, name: req.name });
          if (e.type === "file") return { ok: true, existing: "file", bytes: e.bytes.toString("base64") };
          return e.type === "other"
            ? { ok: true, existing: "other", what: e.what }
            : { ok: true, existing: e.type };
        }
        case "write": {
          await check(req.kind, req.name, req.text);
          const w = await opts.writer.write({ kind: req.kind, name: req.name }, req.text, guardFor(req.kind));
          return {
            ok: true,
            path: w.path,
            changed: w.changed,
            ...(w.previous === undefined ? {} : { previous: w.previous.toString("base64") }),
          };
        }
        case "remove": {
          const r = await opts.writer.remove({ kind: req.kind, name: req.name }, guardFor(req.kind));
          return { ok: true, path: r.path, removed: r.removed };
        }
        case "load":
          await check(req.kind, req.name, req.text);
          await opts.kernel[req.kind].load(req.name, req.text);
          return { ok: true };
        case "unload":
          opts.writer.fileFor({ kind: req.kind, name: req.name });
          await opts.kernel[req.kind].unload(req.name, req.text);
          return { ok: true };
      }
    } catch (err) {
      if (err instanceof Refusal) return { ok: false, error: { type: "Refused", message: err.message } };
      return { ok: false, error: errorOf(err) };
    }
  };

  const serve = (sock: Socket) => {
    const chunks: Buffer[] = [];
    let size = 0;
    sock.setTimeout(120_000, () => sock.destroy());
    sock.on("error", () => {});
    sock.on("data", (d: Buffer) => {
      size += d.length;
      if (size > MAX_MESSAGE_BYTES) {
        sock.destroy();
        return;
      }
      chunks.push(d);
      if (!d.includes(0x0a)) return;
      sock.pause();
      const text = Buffer.concat(chunks).toString("utf8");
      void handle(text.slice(0, text.indexOf("\n"))).then(({ res, op, kind }) => {
        opts.onRequest?.(op, kind, res.ok, res.ok ? undefined : res.error.message);
        sock.end(`${JSON.stringify(res)}\n`);
      });
    });
  };

  await unlink(opts.socket).catch(() => {});
  // allowHalfOpen: the client ends its side after the request; the answer still has to go out.
  const server = createServer({ allowHalfOpen: true }, serve);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.socket, () => resolve());
  });
  await chmod(opts.socket, opts.socketMode ?? 0o666);
  return server;
}
