import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { classifyCgroupPath, parseStatStartTime } from "@secprof/core";
import { z } from "zod";

/**
 * The containers an OCI runtime's state root describes: runc keeps `<root>/<id>/state.json` per
 * container (default root `/run/runc`; containerd's shim passes `--root /run/containerd/runc/<ns>`,
 * docker `/run/docker/runtime-runc/moby`, podman `/run/runc` or its own `--root`). runc stores
 * the OCI annotations as `config.labels` entries `key=value` next to its own `bundle=<dir>`.
 */

export interface RuncContainer {
  /** State root it was found under. */
  root: string;
  /** runc's container id (the state directory's name). */
  id: string;
  /**
   * The 64-hex id attribution reads from `/proc/<pid>/cgroup` (core `classifyCgroupPath` on the
   * container's cgroup paths), or, when its cgroup names none, the runc id if that is 64-hex.
   * Undefined: the container's processes cannot be attributed (e.g. runc's default `/<id>` cgroup
   * with a non-hex id).
   */
  cgroupId?: string;
  annotations: Record<string, string>;
  pid: number;
  /** `/proc/<pid>/stat` starttime of the init process when it started (pid reuse guard). */
  pidStart: number;
}

export interface RuncScan {
  containers: RuncContainer[];
  /** Roots that do not exist (yet): no runtime has used them. */
  missingRoots: string[];
  /** Container directories without a state.json yet (runc is creating them). */
  pending: string[];
  /** State files that failed to parse, with the reason. */
  invalid: { file: string; error: string }[];
}

const State = z.looseObject({
  id: z.string().min(1),
  init_process_pid: z.number().int().positive(),
  init_process_start: z.number().int().nonnegative(),
  cgroup_paths: z.record(z.string(), z.string()).optional(),
  config: z
    .looseObject({
      labels: z.array(z.string()).optional(),
      cgroups: z.looseObject({ path: z.string().optional() }).optional(),
    })
    .optional(),
});

const HEX64 = /^[0-9a-f]{64}$/;
/** runc's own label, not an annotation. */
const RUNC_LABELS = new Set(["bundle"]);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Reads every container's state under `roots`; a state directory being created or removed is
 * skipped. Synchronous on purpose: a few small files per container, and the pod index runs it
 * from a lookup miss, which must answer at once (see RuncPodIndex).
 */
export function scanRuncRoots(roots: readonly string[]): RuncScan {
  const out: RuncScan = { containers: [], missingRoots: [], pending: [], invalid: [] };
  for (const root of roots) {
    let ids: string[];
    try {
      ids = readdirSync(root);
    } catch (err) {
      if (errno(err) !== "ENOENT") throw err;
      out.missingRoots.push(root);
      continue;
    }
    for (const id of ids.sort()) {
      const file = path.join(root, id, "state.json");
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        const code = errno(err);
        if (code === "ENOENT") out.pending.push(path.join(root, id)); // being created (or removed)
        if (code === "ENOENT" || code === "ENOTDIR") continue;
        out.invalid.push({ file, error: String(err) });
        continue;
      }
      const c = parseRuncState(root, text);
      if ("error" in c) out.invalid.push({ file, error: c.error });
      else out.containers.push(c);
    }
  }
  return out;
}

/** One `state.json`'s container, or why it is unusable. */
export function parseRuncState(root: string, text: string): RuncContainer | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // runc rewrites state.json in place; a torn read is retried on the next scan.
    return { error: "not JSON" };
  }
  const s = State.safeParse(raw);
  if (!s.success) return { error: s.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  const annotations: Record<string, string> = {};
  for (const l of s.data.config?.labels ?? []) {
    const eq = l.indexOf("=");
    if (eq <= 0) continue;
    const k = l.slice(0, eq);
    if (!RUNC_LABELS.has(k)) annotations[k] = l.slice(eq + 1);
  }
  const c: RuncContainer = {
    root,
    id: s.data.id,
    annotations,
    pid: s.data.init_process_pid,
    pidStart: s.data.init_process_start,
  };
  const paths = [...Object.values(s.data.cgroup_paths ?? {}), s.data.config?.cgroups?.path ?? ""];
  for (const p of paths) {
    const k = classifyCgroupPath(p);
    if (k.kind === "container") {
      c.cgroupId = k.container.containerId;
      break;
    }
  }
  if (c.cgroupId === undefined && HEX64.test(c.id)) c.cgroupId = c.id;
  return c;
}

/** Whether the container's init process still runs (same pid and start time, not a zombie). */
export function initAlive(procRoot: string, c: Pick<RuncContainer, "pid" | "pidStart">): boolean {
  let stat: string;
  try {
    stat = readFileSync(path.join(procRoot, String(c.pid), "stat"), "utf8");
  } catch {
    return false;
  }
  if (parseStatStartTime(stat) !== c.pidStart) return false; // the pid was reused
  const state = stat.slice(stat.lastIndexOf(")") + 1).trim()[0];
  return state !== "Z" && state !== "X";
}
