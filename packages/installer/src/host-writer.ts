import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open, readdir, rename, unlink } from "node:fs/promises";
import {
  checkNamespace,
  checkProfileName,
  checkRelativeDir,
  type DirHandle,
  type Existing,
  inDir,
  openDirBeneath,
  openRoot,
  readEntry,
  UnsafePathError,
} from "./safe-path.js";

/**
 * Atomic, durable, symlink-safe writes of profile files under a host root, into exactly three
 * areas (nothing is ever created, renamed or removed anywhere else):
 *
 * | kind            | file                                                                   | file | dirs |
 * |-----------------|------------------------------------------------------------------------|------|------|
 * | SeccompProfile  | <root>/<kubeletDir>/seccomp/operator/<namespace>/<name>.json           | 0644 | 0755 |
 * |                 | (layout "cluster", SPO's: <root>/<kubeletDir>/seccomp/operator/<name>.json) |      |      |
 * | AppArmorProfile | <root>/etc/apparmor.d/<name>                                           | 0644 | 0755 |
 * | SelinuxProfile  | <root>/etc/selinux.d/<name>.cil                                        | 0600 | 0750 |
 *
 * `.json` is always appended (SPO skips it when the name already ends in `.json`, which makes
 * `a` and `a.json` collide). Modes are set with fchmod (umask does not apply); an owner can be
 * configured per area (SPO writes seccomp files as 65535). Only directories this writer creates
 * get these modes; existing ones (e.g. /etc/apparmor.d) are left alone.
 *
 * A write:
 * 1. walks to the directory by handle (safe-path.ts: no symlink is followed, ever);
 * 2. reads the current file without following a symlink and returns early if bytes, mode and
 *    owner already match ("compare before writing": no rename, no inotify event for selinuxd);
 * 3. creates `.<name>.<random>.secprof-tmp` in that same directory with
 *    O_CREAT|O_EXCL|O_NOFOLLOW (dot-prefixed: apparmor_parser skips dotfiles, selinuxd only
 *    takes `*.cil`, kubelet only opens the referenced file), writes it, sets mode and owner,
 *    fsyncs it;
 * 4. renames it over the target (atomic: a reader, a crash or a reboot sees the old or the new
 *    file, never a partial one; a symlink planted at the target is replaced, not followed);
 * 5. fsyncs the directory so the rename itself is durable.
 * On any error (ENOSPC included) the temp file is removed and the old file is untouched.
 * `cleanStaleTemps()` removes temp files a killed process left behind; call it at start.
 *
 * One writer per host root: a second process running `cleanStaleTemps()` could remove the
 * other's in-flight temp file (its rename then fails and is retried by the next reconcile).
 */

export type HostKind = "SeccompProfile" | "SelinuxProfile" | "AppArmorProfile";
export type HostArea = "seccomp" | "apparmor" | "selinux";

export interface HostRef {
  kind: HostKind;
  namespace?: string | undefined;
  name: string;
}

export type SeccompLayout = "namespaced" | "cluster";

export interface HostWriterOptions {
  /** Host root, e.g. `/` on the node or `/host` in a pod. Must exist. */
  root: string;
  /** `namespaced` (default): operator/<namespace>/<name>.json; `cluster`: SPO's operator/<name>.json. */
  seccompLayout?: SeccompLayout;
  /** kubelet's root dir relative to the host root (default `var/lib/kubelet`). */
  kubeletDir?: string;
  /** Namespace for namespaced seccomp files of profiles without one (default `default`). */
  defaultNamespace?: string;
  owner?: Partial<Record<HostArea, { uid: number; gid: number }>>;
}

export interface HostFile {
  area: HostArea;
  /** Directory components below the root. */
  dirs: readonly string[];
  file: string;
  fileMode: number;
  dirMode: number;
  /** `<root>/<dirs>/<file>`, for messages and status only. */
  path: string;
  /** Seccomp: what pods put in `localhostProfile`, e.g. `operator/shop/web.json`. */
  localhostProfile?: string;
}

/** A host write or remove that failed; the old file (if any) is untouched. */
export class HostWriteError extends Error {
  override readonly name = "HostWriteError";
  constructor(
    message: string,
    readonly code: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** Decides whether an existing file may be replaced or removed; returns a reason to refuse. */
export type ReplaceGuard = (existing: Buffer) => string | undefined;

export interface WriteResult {
  changed: boolean;
  /** The bytes that were there before (undefined: no regular file was there). */
  previous: Buffer | undefined;
  path: string;
}

export interface RemoveResult {
  removed: boolean;
  previous: Buffer | undefined;
  path: string;
}

const TEMP_SUFFIX = ".secprof-tmp";
const TEMP_NAME = /^\..*\.[0-9a-f]{16}\.secprof-tmp$/;
const MODES: Readonly<Record<HostArea, { file: number; dir: number }>> = {
  seccomp: { file: 0o644, dir: 0o755 },
  apparmor: { file: 0o644, dir: 0o755 },
  selinux: { file: 0o600, dir: 0o750 },
};

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

function tempName(file: string): string {
  return `.${file.slice(0, 200)}.${randomBytes(8).toString("hex")}${TEMP_SUFFIX}`;
}

function errText(err: unknown): { code: string; text: string } {
  const code = (err as NodeJS.ErrnoException).code ?? "EUNKNOWN";
  const text =
    code === "ENOSPC"
      ? "no space left on device"
      : code === "EDQUOT"
        ? "disk quota exceeded"
        : err instanceof Error
          ? err.message
          : String(err);
  return { code, text };
}

/** An existing entry as reconcile sees it (the split writer cannot ship a `Stats` over its socket). */
export type ExistingEntry =
  | { type: "absent" }
  | { type: "file"; bytes: Buffer }
  | { type: "symlink" }
  | { type: "other"; what: string };

/** What reconcile needs of a writer (the split writer of the privilege split implements it too). */
export interface HostFiles {
  fileFor(ref: HostRef): HostFile;
  read(ref: HostRef): Promise<ExistingEntry>;
  write(ref: HostRef, bytes: Buffer | string, guard?: ReplaceGuard): Promise<WriteResult>;
  remove(ref: HostRef, guard?: ReplaceGuard): Promise<RemoveResult>;
}

export class HostWriter {
  private constructor(
    private readonly root: DirHandle,
    private readonly seccompDirs: readonly string[],
    private readonly layout: SeccompLayout,
    private readonly defaultNamespace: string,
    private readonly owner: Partial<Record<HostArea, { uid: number; gid: number }>>,
  ) {}

  static async open(opts: HostWriterOptions): Promise<HostWriter> {
    const kubelet = checkRelativeDir(opts.kubeletDir ?? "var/lib/kubelet");
    const ns = checkNamespace(opts.defaultNamespace ?? "default");
    const root = await openRoot(opts.root);
    return new HostWriter(
      root,
      [...kubelet, "seccomp", "operator"],
      opts.seccompLayout ?? "namespaced",
      ns,
      opts.owner ?? {},
    );
  }

  get rootPath(): string {
    return this.root.display;
  }

  /** Where `ref` lives on the host; throws NameError for a name or namespace that is not allowed. */
  fileFor(ref: HostRef): HostFile {
    const base = this.root.display.replace(/\/$/, "");
    const make = (area: HostArea, dirs: string[], file: string, localhostProfile?: string): HostFile => {
      const f: HostFile = {
        area,
        dirs,
        file,
        fileMode: MODES[area].file,
        dirMode: MODES[area].dir,
        path: `${base}/${[...dirs, file].join("/")}`,
      };
      if (localhostProfile !== undefined) f.localhostProfile = localhostProfile;
      return f;
    };
    switch (ref.kind) {
      case "SeccompProfile": {
        const name = checkProfileName(ref.name, ".json");
        const file = `${name}.json`;
        if (this.layout === "cluster")
          return make("seccomp", [...this.seccompDirs], file, `operator/${file}`);
        const ns = checkNamespace(ref.namespace ?? this.defaultNamespace);
        return make("seccomp", [...this.seccompDirs, ns], file, `operator/${ns}/${file}`);
      }
      case "AppArmorProfile":
        return make("apparmor", ["etc", "apparmor.d"], checkProfileName(ref.name, "", true));
      case "SelinuxProfile": {
        const name = checkProfileName(ref.name, ".cil");
        return make("selinux", ["etc", "selinux.d"], `${name}.cil`);
      }
    }
  }

  /** The file currently at `ref`'s path, read without following symlinks. */
  async read(ref: HostRef): Promise<Existing> {
    const f = this.fileFor(ref);
    let dir: DirHandle;
    try {
      dir = await openDirBeneath(this.root, f.dirs);
    } catch (err) {
      if (err instanceof UnsafePathError && err.code === "ENOENT") return { type: "absent" };
      throw err;
    }
    try {
      return await readEntry(dir, f.file);
    } finally {
      await dir.handle.close();
    }
  }

  /** Installs `bytes` at `ref`'s path atomically (see the module comment). */
  async write(ref: HostRef, bytes: Buffer | string, guard?: ReplaceGuard): Promise<WriteResult> {
    const f = this.fileFor(ref);
    const data = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    const owner = this.owner[f.area];
    let dir: DirHandle;
    try {
      dir = await openDirBeneath(this.root, f.dirs, {
        mode: f.dirMode,
        ...(owner === undefined ? {} : { owner }),
      });
    } catch (err) {
      const { code, text } = errText(err);
      throw new HostWriteError(`cannot write ${f.path}: ${text}`, code, f.path);
    }
    try {
      const existing = await readEntry(dir, f.file);
      if (existing.type === "other")
        throw new HostWriteError(`cannot write ${f.path}: it is ${existing.what}`, "EEXIST", f.path);
      const previous = existing.type === "file" ? existing.bytes : undefined;
      if (previous !== undefined && guard !== undefined) {
        const refusal = guard(previous);
        if (refusal !== undefined)
          throw new HostWriteError(`refusing to replace ${f.path}: ${refusal}`, "EEXIST", f.path);
      }
      if (
        existing.type === "file" &&
        existing.bytes.equals(data) &&
        (existing.stat.mode & 0o7777) === f.fileMode &&
        (owner === undefined || (existing.stat.uid === owner.uid && existing.stat.gid === owner.gid))
      )
        return { changed: false, previous, path: f.path };
      await this.replace(dir, f, data, owner);
      return { changed: true, previous, path: f.path };
    } catch (err) {
      if (err instanceof HostWriteError) throw err;
      const { code, text } = errText(err);
      throw new HostWriteError(`cannot write ${f.path}: ${text}`, code, f.path);
    } finally {
      await dir.handle.close();
    }
  }

  private async replace(
    dir: DirHandle,
    f: HostFile,
    data: Buffer,
    owner: { uid: number; gid: number } | undefined,
  ): Promise<void> {
    const tmp = inDir(dir.handle, tempName(f.file));
    let fh: FileHandle | undefined;
    try {
      fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        f.fileMode,
      );
      await fh.writeFile(data);
      await fh.chmod(f.fileMode);
      if (owner !== undefined) await fh.chown(owner.uid, owner.gid);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, inDir(dir.handle, f.file));
    } catch (err) {
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await dir.handle.sync();
  }

  /**
   * Removes `ref`'s file (one atomic unlink; a symlink there is removed, not followed) and makes
   * the removal durable. A missing file or directory is not an error.
   */
  async remove(ref: HostRef, guard?: ReplaceGuard): Promise<RemoveResult> {
    const f = this.fileFor(ref);
    let dir: DirHandle;
    try {
      dir = await openDirBeneath(this.root, f.dirs);
    } catch (err) {
      if (err instanceof UnsafePathError && err.code === "ENOENT")
        return { removed: false, previous: undefined, path: f.path };
      const { code, text } = errText(err);
      throw new HostWriteError(`cannot remove ${f.path}: ${text}`, code, f.path);
    }
    try {
      const existing = await readEntry(dir, f.file);
      if (existing.type === "absent") return { removed: false, previous: undefined, path: f.path };
      if (existing.type === "other")
        throw new HostWriteError(`refusing to remove ${f.path}: it is ${existing.what}`, "EEXIST", f.path);
      const previous = existing.type === "file" ? existing.bytes : undefined;
      if (previous !== undefined && guard !== undefined) {
        const refusal = guard(previous);
        if (refusal !== undefined)
          throw new HostWriteError(`refusing to remove ${f.path}: ${refusal}`, "EEXIST", f.path);
      }
      await unlink(inDir(dir.handle, f.file));
      await dir.handle.sync();
      return { removed: true, previous, path: f.path };
    } catch (err) {
      if (err instanceof HostWriteError) throw err;
      const { code, text } = errText(err);
      throw new HostWriteError(`cannot remove ${f.path}: ${text}`, code, f.path);
    } finally {
      await dir.handle.close();
    }
  }

  /**
   * Removes temp files a killed writer left in the three areas (and, for the namespaced seccomp
   * layout, in each namespace directory), or only in the `only` areas. Returns the paths removed.
   * Never follows a symlink.
   */
  async cleanStaleTemps(only?: readonly HostArea[]): Promise<string[]> {
    const removed: string[] = [];
    const areas: [HostArea, readonly string[]][] = [
      ["seccomp", this.seccompDirs],
      ["apparmor", ["etc", "apparmor.d"]],
      ["selinux", ["etc", "selinux.d"]],
    ];
    for (const [area, dirs] of areas) {
      if (only !== undefined && !only.includes(area)) continue;
      let dir: DirHandle;
      try {
        dir = await openDirBeneath(this.root, dirs);
      } catch (err) {
        if (err instanceof UnsafePathError && err.code === "ENOENT") continue;
        throw err;
      }
      try {
        await this.cleanDir(dir, removed, dirs === this.seccompDirs && this.layout === "namespaced");
      } finally {
        await dir.handle.close();
      }
    }
    return removed;
  }

  private async cleanDir(dir: DirHandle, removed: string[], descend: boolean): Promise<void> {
    const entries = await readdir(`/proc/self/fd/${dir.handle.fd}`, { withFileTypes: true });
    let any = false;
    for (const e of entries) {
      if (isTempName(e.name) && !e.isDirectory()) {
        try {
          await unlink(inDir(dir.handle, e.name));
          removed.push(`${dir.display}/${e.name}`);
          any = true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      } else if (descend && e.isDirectory()) {
        let sub: DirHandle;
        try {
          sub = await openDirBeneath(dir, [e.name]);
        } catch {
          continue; // swapped for a symlink or gone since readdir: nothing of ours to clean there
        }
        try {
          await this.cleanDir(sub, removed, false);
        } finally {
          await sub.handle.close();
        }
      }
    }
    if (any) await dir.handle.sync();
  }

  async close(): Promise<void> {
    await this.root.handle.close();
  }
}
