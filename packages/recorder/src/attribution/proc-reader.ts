import { closeSync, openSync, readFileSync, readlinkSync, readSync } from "node:fs";
import path from "node:path";
import { parseNsLink, parseStatStartTime, parseUptime } from "@secprof/core";

/**
 * Reads the procfs facts attribution needs, under a configurable root (default `/proc`; SPO's
 * `hostProcVolumePath` for nested setups such as kind; tests point it at a fake tree).
 *
 * Synchronous on purpose: procfs files are generated in memory, a read never waits on a disk, and
 * a sync read is several times cheaper than an async one on the hot path (one stat read per event).
 */
export type ProcFailure = "gone" | "unreadable" | "malformed";
export type ProcRead<T> = { ok: true; value: T } | { ok: false; reason: ProcFailure; detail: string };

function failure(err: unknown): { ok: false; reason: ProcFailure; detail: string } {
  const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  // ENOENT: no such pid. ESRCH: the task exited between open and read.
  const reason: ProcFailure = code === "ENOENT" || code === "ESRCH" ? "gone" : "unreadable";
  return { ok: false, reason, detail: err instanceof Error ? err.message : String(err) };
}

const SMALL = Buffer.allocUnsafe(4096);

function validPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 0 && pid <= 0x3fffffff;
}

export class ProcReader {
  readonly root: string;

  constructor(root = "/proc") {
    this.root = path.resolve(root);
  }

  #file(pid: number | "self", name: string): string {
    return `${this.root}/${pid}/${name}`;
  }

  #read(file: string): ProcRead<string> {
    try {
      return { ok: true, value: readFileSync(file, "utf8") };
    } catch (err) {
      return failure(err);
    }
  }

  /**
   * One small file in a single read into a shared buffer: ~30% cheaper than readFileSync, which
   * fstat()s and loops because procfs reports size 0. A stat line is far below 4 KiB (comm is at
   * most 15 bytes); a full buffer falls back to readFileSync.
   */
  #readSmall(file: string): ProcRead<string> {
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      return failure(err);
    }
    try {
      const n = readSync(fd, SMALL, 0, SMALL.length, 0);
      if (n < SMALL.length) return { ok: true, value: SMALL.toString("latin1", 0, n) };
    } catch (err) {
      return failure(err);
    } finally {
      closeSync(fd);
    }
    return this.#read(file);
  }

  /** Raw `/proc/<pid>/cgroup`. */
  cgroup(pid: number): ProcRead<string> {
    if (!validPid(pid)) return { ok: false, reason: "malformed", detail: `invalid pid ${pid}` };
    return this.#read(this.#file(pid, "cgroup"));
  }

  /** Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot. */
  startTime(pid: number): ProcRead<number> {
    if (!validPid(pid)) return { ok: false, reason: "malformed", detail: `invalid pid ${pid}` };
    const r = this.#readSmall(this.#file(pid, "stat"));
    if (!r.ok) return r;
    const v = parseStatStartTime(r.value);
    return v === undefined
      ? { ok: false, reason: "malformed", detail: `${pid}/stat: no start time` }
      : { ok: true, value: v };
  }

  /** Inode of the mount namespace (`readlink /proc/<pid>/ns/mnt` = `mnt:[4026531840]`). */
  mntns(pid: number | "self"): ProcRead<number> {
    if (pid !== "self" && !validPid(pid))
      return { ok: false, reason: "malformed", detail: `invalid pid ${pid}` };
    let link: string;
    try {
      link = readlinkSync(this.#file(pid, "ns/mnt"));
    } catch (err) {
      return failure(err);
    }
    const v = parseNsLink(link, "mnt");
    return v === undefined
      ? { ok: false, reason: "malformed", detail: `ns/mnt: ${link}` }
      : { ok: true, value: v };
  }

  /** `/proc/uptime` in milliseconds (CLOCK_BOOTTIME, the clock `starttime` counts in). */
  uptimeMs(): ProcRead<number> {
    const r = this.#read(`${this.root}/uptime`);
    if (!r.ok) return r;
    const v = parseUptime(r.value);
    return v === undefined
      ? { ok: false, reason: "malformed", detail: "uptime" }
      : { ok: true, value: v * 1000 };
  }
}
