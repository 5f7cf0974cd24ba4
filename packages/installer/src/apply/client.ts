import { connect } from "node:net";
import {
  type ExistingEntry,
  type HostFile,
  type HostFiles,
  type HostRef,
  HostWriteError,
  type HostWriter,
  type RemoveResult,
  type ReplaceGuard,
  type WriteResult,
} from "../host-writer.js";
import { type KernelPolicy, LoadError, type PolicyKind } from "../kernel.js";
import { NameError } from "../safe-path.js";
import { type ApplyRequest, ApplyResponse, MAX_MESSAGE_BYTES } from "./protocol.js";

/**
 * The unprivileged side of the privilege split: seccomp files are written by this process (its
 * own HostWriter, in the directory the init step handed to its uid); AppArmor/SELinux writes,
 * removals and kernel loads go to `installer-apply` over its socket. Errors come back with their
 * class, so reconcile's rollback and statuses work as in-process. A refused or failed request is
 * a HostWriteError (code EAPPLY): the profile is reported Error, the old file stays.
 */

type Ok = Extract<ApplyResponse, { ok: true }>;

export class ApplyClient {
  constructor(
    readonly socket: string,
    private readonly timeoutMs = 150_000,
  ) {}

  request(req: ApplyRequest): Promise<Ok> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.socket);
      const chunks: Buffer[] = [];
      let size = 0;
      sock.setTimeout(this.timeoutMs, () =>
        sock.destroy(new Error(`installer-apply: no answer in ${this.timeoutMs} ms`)),
      );
      sock.on("error", (err) =>
        reject(
          new HostWriteError(`installer-apply at ${this.socket}: ${err.message}`, "EAPPLY", this.socket),
        ),
      );
      sock.on("data", (d: Buffer) => {
        size += d.length;
        if (size > MAX_MESSAGE_BYTES) sock.destroy(new Error("answer too large"));
        else chunks.push(d);
      });
      sock.on("end", () => {
        let parsed: ReturnType<typeof ApplyResponse.safeParse>;
        try {
          parsed = ApplyResponse.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch {
          reject(new HostWriteError("installer-apply: unreadable answer", "EAPPLY", this.socket));
          return;
        }
        if (!parsed.success) {
          reject(new HostWriteError("installer-apply: malformed answer", "EAPPLY", this.socket));
          return;
        }
        const res = parsed.data;
        if (res.ok) {
          resolve(res);
          return;
        }
        const e = res.error;
        if (e.type === "LoadError") reject(new LoadError(e.message));
        else if (e.type === "NameError") reject(new NameError(e.message));
        else
          reject(
            new HostWriteError(
              e.type === "Refused" ? `installer-apply refused: ${e.message}` : e.message,
              e.code ?? "EAPPLY",
              e.path ?? this.socket,
            ),
          );
      });
      sock.end(`${JSON.stringify(req)}\n`);
    });
  }
}

const isPolicy = (ref: HostRef): ref is HostRef & { kind: PolicyKind } => ref.kind !== "SeccompProfile";

export class SplitWriter implements HostFiles {
  constructor(
    private readonly local: HostWriter,
    private readonly apply: ApplyClient,
  ) {}

  fileFor(ref: HostRef): HostFile {
    return this.local.fileFor(ref);
  }

  async read(ref: HostRef): Promise<ExistingEntry> {
    if (!isPolicy(ref)) return this.local.read(ref);
    const r = await this.apply.request({ op: "read", kind: ref.kind, name: ref.name });
    switch (r.existing) {
      case "file":
        return { type: "file", bytes: Buffer.from(r.bytes ?? "", "base64") };
      case "other":
        return { type: "other", what: r.what ?? "?" };
      case "symlink":
        return { type: "symlink" };
      default:
        return { type: "absent" };
    }
  }

  /** For policy kinds the apply side always uses its own guard (secprof's mark), never a caller's. */
  async write(ref: HostRef, bytes: Buffer | string, guard?: ReplaceGuard): Promise<WriteResult> {
    if (!isPolicy(ref)) return this.local.write(ref, bytes, guard);
    const text = typeof bytes === "string" ? bytes : bytes.toString("utf8");
    const r = await this.apply.request({ op: "write", kind: ref.kind, name: ref.name, text });
    return {
      changed: r.changed === true,
      previous: r.previous === undefined ? undefined : Buffer.from(r.previous, "base64"),
      path: r.path ?? this.fileFor(ref).path,
    };
  }

  async remove(ref: HostRef, guard?: ReplaceGuard): Promise<RemoveResult> {
    if (!isPolicy(ref)) return this.local.remove(ref, guard);
    const r = await this.apply.request({ op: "remove", kind: ref.kind, name: ref.name });
    return { removed: r.removed === true, previous: undefined, path: r.path ?? this.fileFor(ref).path };
  }

  /** Stale temps in the seccomp area; the apply side cleans its own areas at its start. */
  cleanStaleTemps(): Promise<string[]> {
    return this.local.cleanStaleTemps(["seccomp"]);
  }
}

/** The kernel loaders, behind the apply socket. */
export function remoteKernel(apply: ApplyClient, kind: PolicyKind): KernelPolicy {
  return {
    unavailable: async () => (await apply.request({ op: "unavailable", kind })).reason,
    load: async (name, text) => {
      await apply.request({ op: "load", kind, name, text });
    },
    unload: async (name, text) => {
      await apply.request({ op: "unload", kind, name, text });
    },
  };
}
