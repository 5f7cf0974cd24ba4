import path from "node:path";
import { type AppArmorFactsInput, type AppArmorLoss, AppArmorRecorder } from "@secprof/core";
import {
  type AppArmorMapName,
  decodeCapKey,
  decodeInodeKey,
  decodeNsKey,
  decodePathKey,
  decodeSocketKey,
  decodeSysAdminKey,
  type PathKey,
  socketFamilyProtocol,
} from "./apparmor-parse.js";

/** A directory a relative path can be resolved against: its path and inode (kernel dev_t). */
export interface KnownDir {
  path: string;
  dev: number;
  ino: number;
}

/** How relative paths find their base directory outside the kernel (the /proc reader in production). */
export interface BaseResolver {
  /** The current working directory of a live process, or undefined when it is gone. */
  cwd(pid: number): KnownDir | undefined;
}

export interface AppArmorFactTableOptions {
  /** Patterns kept per mount namespace in userspace (SPO: 10 000). */
  maxPathsPerNamespace?: number;
  maxNamespaces?: number;
  /** BPFTRACE_STRLEN of the program: a path of strlen-1 bytes may have been cut. */
  strlen: number;
  resolver: BaseResolver;
}

const inodeId = (mntns: number, dev: number, ino: number) => `${mntns}:${dev}:${ino}`;
const dirId = (dev: number, ino: number) => `${dev}:${ino}`;
const MAX_DIRS = 65_536;
const MAX_PENDING = 65_536;

/**
 * Turns apparmor.bt's cumulative maps into per-mount-namespace AppArmor facts (the core's
 * `AppArmorRecorder`). Each key is handled once. Relative paths are resolved against a directory
 * with the recorded inode: one the workload opened by absolute path, or a process's cwd seen at
 * exec time or later; what stays unresolved at `finish()` is counted as unusable. mmap(PROT_EXEC)
 * inodes mark the files opened with that inode as mapped executables (libraries). Memory is
 * bounded by the kernel map sizes plus the fixed caps above.
 */
export class AppArmorFactTable {
  private readonly rec: AppArmorRecorder;
  private readonly seen = new Set<string>();
  private readonly dirs = new Map<string, string>();
  private readonly pending = new Map<string, PathKey>();
  /** Paths opened per (mntns, dev, ino), and the (mntns, dev, ino) mapped executable. */
  private readonly opened = new Map<string, Set<string>>();
  private readonly mapped = new Set<string>();
  private readonly kernelTruncated = new Map<number, number>();
  private readonly unresolved = new Map<number, number>();
  private readonly cutPaths = new Map<number, number>();
  /** Namespaces whose profile is built: the kernel maps still hold their keys, which are skipped. */
  private readonly forgotten = new Set<number>();
  private badKeys = 0;

  constructor(private readonly opts: AppArmorFactTableOptions) {
    this.rec = new AppArmorRecorder({
      ...(opts.maxPathsPerNamespace === undefined ? {} : { maxPathsPerNamespace: opts.maxPathsPerNamespace }),
      ...(opts.maxNamespaces === undefined ? {} : { maxNamespaces: opts.maxNamespaces }),
    });
  }

  /** Keys that did not decode (counted, never thrown). */
  get droppedKeys(): number {
    return this.badKeys;
  }

  /** A process exec'd: remember its cwd while it surely exists, for its relative paths. */
  exec(pid: number): void {
    const d = this.opts.resolver.cwd(pid);
    if (d !== undefined) this.knowDir(d.dev, d.ino, d.path);
  }

  /** One printed map (cumulative): new keys become facts. Returns the number of new keys. */
  map(name: AppArmorMapName, entries: Record<string, number>): number {
    let fresh = 0;
    for (const key in entries) {
      const id = `${name} ${key}`;
      if (this.seen.has(id)) continue;
      if (this.forgotten.size > 0 && this.forgotten.has(Number(key.slice(0, key.indexOf(","))))) continue;
      this.seen.add(id);
      fresh++;
      this.key(name, key, entries[key] ?? 0);
    }
    if (fresh > 0) this.retryPending(false);
    return fresh;
  }

  /** End of recording: a last attempt at relative paths, then what is left counts as lost. */
  finish(): void {
    this.retryPending(true);
  }

  namespaces(): number[] {
    return this.rec.namespaces();
  }

  facts(mntns: number): AppArmorFactsInput {
    return this.rec.facts(mntns);
  }

  /** The core's loss counters, with kernel truncation, unresolved and cut paths folded in. */
  loss(mntns: number): AppArmorLoss {
    const l = this.rec.loss(mntns);
    l.truncated += this.kernelTruncated.get(mntns) ?? 0;
    l.unusablePaths += (this.unresolved.get(mntns) ?? 0) + (this.cutPaths.get(mntns) ?? 0);
    return l;
  }

  /**
   * Frees what is kept for a namespace once its profile is built; its keys, still in the kernel
   * maps (ns ids are never reused), are ignored from now on.
   */
  forget(mntns: number): void {
    this.forgotten.add(mntns);
    const prefix = `${mntns},`;
    for (const id of this.seen) if (id.slice(id.indexOf(" ") + 1).startsWith(prefix)) this.seen.delete(id);
    this.rec.forget(mntns);
    for (const [id, k] of this.pending) if (k.mntns === mntns) this.pending.delete(id);
    const inode = `${mntns}:`;
    for (const id of this.opened.keys()) if (id.startsWith(inode)) this.opened.delete(id);
    for (const id of this.mapped) if (id.startsWith(inode)) this.mapped.delete(id);
    this.kernelTruncated.delete(mntns);
    this.unresolved.delete(mntns);
    this.cutPaths.delete(mntns);
  }

  private key(name: AppArmorMapName, key: string, value: number): void {
    switch (name) {
      case "@p": {
        const k = decodePathKey(key);
        if (k === undefined) this.badKeys++;
        else this.pathFact(key, k);
        return;
      }
      case "@mx": {
        const k = decodeInodeKey(key);
        if (k === undefined) {
          this.badKeys++;
          return;
        }
        const id = inodeId(k.mntns, k.dev, k.ino);
        this.mapped.add(id);
        for (const p of this.opened.get(id) ?? []) this.rec.file(k.mntns, p, { exec: true });
        return;
      }
      case "@sk": {
        const k = decodeSocketKey(key);
        const fp = k === undefined ? undefined : socketFamilyProtocol(k);
        if (k === undefined) this.badKeys++;
        else if (fp !== undefined) this.rec.network(k.mntns, fp.family, fp.protocol);
        return;
      }
      case "@cap": {
        const k = decodeCapKey(key);
        if (k === undefined) this.badKeys++;
        else this.rec.capability(k.mntns, k.cap);
        return;
      }
      case "@capsa": {
        const k = decodeSysAdminKey(key);
        if (k === undefined) this.badKeys++;
        else if (k.need) this.rec.capability(k.mntns, "sys_admin");
        return;
      }
      case "@trunc": {
        // A count, not a set member: the latest value wins, so it is not de-duplicated by key.
        this.seen.delete(`${name} ${key}`);
        const ns = decodeNsKey(key);
        if (ns === undefined) this.badKeys++;
        else this.kernelTruncated.set(ns, value);
        return;
      }
    }
  }

  private pathFact(id: string, k: PathKey): void {
    if (k.path.length >= this.opts.strlen - 1) {
      // bpftrace cut the string: the real path is unknown.
      this.cutPaths.set(k.mntns, (this.cutPaths.get(k.mntns) ?? 0) + 1);
      return;
    }
    if (k.path.startsWith("/")) {
      this.record(k, path.posix.normalize(k.path));
      return;
    }
    const base = this.dirs.get(dirId(k.baseDev, k.baseIno)) ?? this.liveCwd(k);
    if (base !== undefined) this.record(k, path.posix.resolve(base, k.path));
    else if (this.pending.size < MAX_PENDING) this.pending.set(id, k);
    else this.unresolved.set(k.mntns, (this.unresolved.get(k.mntns) ?? 0) + 1);
  }

  private liveCwd(k: PathKey): string | undefined {
    const d = this.opts.resolver.cwd(k.pid);
    if (d === undefined) return undefined;
    this.knowDir(d.dev, d.ino, d.path);
    return d.dev === k.baseDev && d.ino === k.baseIno ? d.path : undefined;
  }

  private retryPending(final: boolean): void {
    for (const [id, k] of this.pending) {
      const base = this.dirs.get(dirId(k.baseDev, k.baseIno));
      if (base !== undefined) {
        this.pending.delete(id);
        this.record(k, path.posix.resolve(base, k.path));
      } else if (final) {
        this.pending.delete(id);
        this.unresolved.set(k.mntns, (this.unresolved.get(k.mntns) ?? 0) + 1);
      }
    }
  }

  private knowDir(dev: number, ino: number, p: string): void {
    if (this.dirs.size < MAX_DIRS || this.dirs.has(dirId(dev, ino))) this.dirs.set(dirId(dev, ino), p);
  }

  private record(k: PathKey, abs: string): void {
    if (k.op === "exec") {
      this.rec.file(k.mntns, abs, { spawn: true });
      return;
    }
    if (k.op === "open" && k.directory) this.knowDir(k.dev, k.ino, abs);
    // AppArmor names directories with a trailing slash (`/etc/ r,`, mkdir of `/d/`).
    const p = k.directory && !abs.endsWith("/") ? `${abs}/` : abs;
    if (k.op === "change") {
      this.rec.file(k.mntns, p, { write: true });
      return;
    }
    const id = inodeId(k.mntns, k.dev, k.ino);
    const mapped = this.mapped.has(id);
    this.rec.file(k.mntns, p, { read: k.read, write: k.write, exec: mapped });
    if (!k.directory) {
      let set = this.opened.get(id);
      if (set === undefined) {
        set = new Set();
        this.opened.set(id, set);
      }
      set.add(p);
    }
  }
}
