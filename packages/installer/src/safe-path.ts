import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, open } from "node:fs/promises";

/**
 * Names and symlink-safe directory handles for host writes.
 *
 * Names. Every name that becomes a path component is checked against an allow-list here, again,
 * even though the API schema (core `ObjectName`) already did: the installer must not trust that
 * its input went through the API. A profile name is a DNS-1123 subdomain (lowercase letters,
 * digits, `-`, `.`; starts and ends alphanumeric; so no `/`, no NUL, no leading dot, no `..`),
 * at most 253 characters, and the file name made from it at most NAME_MAX (255) bytes.
 * AppArmor names must not end in a suffix apparmor_parser skips when it loads
 * `/etc/apparmor.d` at boot (`.dpkg-new`, `.rpmsave`, …): such a profile would silently vanish
 * on reboot. Namespaces are DNS-1123 labels (≤ 63).
 *
 * Handles. Node has no openat()/openat2(). A path string is re-resolved at each use, so a
 * component swapped for a symlink between a check and a write redirects the write (the
 * CVE-2021-25741 pattern). Instead:
 *
 * 1. The host root is configuration, opened once as a directory handle.
 * 2. Each component below it is opened with `O_RDONLY|O_DIRECTORY|O_NOFOLLOW` at the path
 *    `/proc/self/fd/<parent fd>/<component>`. The kernel resolves `/proc/self/fd/<n>` to the
 *    directory the descriptor holds (a "magic link" to the open file, not a path lookup), and
 *    then looks the single component up *in that directory*. Renaming, deleting or replacing any
 *    ancestor afterwards does not change which directory the fd names. O_NOFOLLOW makes a
 *    symlinked component fail with ELOOP instead of being followed; O_DIRECTORY makes anything
 *    else that is not a directory fail with ENOTDIR.
 * 3. A missing component is created with mkdir at the same fd-relative path (mkdir never follows
 *    a symlink at its last component: it fails EEXIST) and then opened the same way, so a
 *    symlink planted between the mkdir and the open is refused too.
 * 4. Files are then created, renamed and removed only as `/proc/self/fd/<dir fd>/<name>` with a
 *    single checked component (see host-writer.ts).
 *
 * What this does not defend against: an attacker who can rename a directory *we already hold*
 * to outside the root on the same filesystem (the fd follows the directory; openat2
 * RESOLVE_BENEATH has the same property). That needs write access to both parents, i.e. more
 * than swapping a path component.
 *
 * Requires /proc to be mounted (checked in `openRoot`; without it every open fails closed).
 */

export class NameError extends Error {
  override readonly name = "NameError";
}

/** A symlink, non-directory or missing directory on a host path. `code` is the errno name. */
export class UnsafePathError extends Error {
  override readonly name = "UnsafePathError";
  constructor(
    message: string,
    readonly code: string,
    readonly path: string,
  ) {
    super(message);
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_MAX = 255;
const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Suffixes apparmor_parser ignores in a directory (parser_misc/lib.c `ignored_suffixes`). */
export const APPARMOR_SKIPPED_SUFFIXES: readonly string[] = [
  ".dpkg-new",
  ".dpkg-old",
  ".dpkg-dist",
  ".dpkg-bak",
  ".dpkg-remove",
  ".pacsave",
  ".pacnew",
  ".rpmnew",
  ".rpmsave",
  ".orig",
  ".rej",
  ".swp",
];

const printable = (v: unknown) => JSON.stringify(typeof v === "string" ? v.slice(0, 80) : v);

/** Checks a profile name; returns it or throws NameError saying why. */
export function checkProfileName(name: unknown, fileSuffix = "", apparmor = false): string {
  if (typeof name !== "string") throw new NameError(`profile name must be a string, got ${typeof name}`);
  if (name.length === 0) throw new NameError("profile name is empty");
  if (name.includes("\0")) throw new NameError(`profile name ${printable(name)} contains NUL`);
  if (name.includes("/")) throw new NameError(`profile name ${printable(name)} contains "/"`);
  if (name === "." || name === ".." || name.includes(".."))
    throw new NameError(`profile name ${printable(name)} contains ".."`);
  if (name.startsWith(".")) throw new NameError(`profile name ${printable(name)} starts with "."`);
  if (name.length > 253) throw new NameError(`profile name is ${name.length} characters long (max 253)`);
  if (!DNS_SUBDOMAIN.test(name))
    throw new NameError(
      `profile name ${printable(name)} is not a DNS-1123 subdomain (lowercase letters, digits, "-", ".")`,
    );
  if (Buffer.byteLength(name + fileSuffix) > NAME_MAX)
    throw new NameError(`file name ${printable(name + fileSuffix)} is longer than ${NAME_MAX} bytes`);
  if (apparmor) {
    const bad = APPARMOR_SKIPPED_SUFFIXES.find((s) => name.endsWith(s));
    if (bad !== undefined)
      throw new NameError(
        `AppArmor profile name ${printable(name)} ends in ${bad}, which apparmor_parser skips`,
      );
  }
  return name;
}

export function checkNamespace(ns: unknown): string {
  if (typeof ns !== "string" || ns.length === 0 || ns.length > 63 || !DNS_LABEL.test(ns))
    throw new NameError(`namespace ${printable(ns)} is not a DNS-1123 label`);
  return ns;
}

/** Splits a configured relative directory (`var/lib/kubelet`) into checked segments. */
export function checkRelativeDir(dir: string): string[] {
  const segments = dir.split("/").filter((s) => s !== "");
  if (segments.length === 0) throw new NameError(`directory ${printable(dir)} is empty`);
  for (const s of segments)
    if (s === "." || s === ".." || !PATH_SEGMENT.test(s) || s.length > NAME_MAX)
      throw new NameError(`directory ${printable(dir)} has an invalid component ${printable(s)}`);
  return segments;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** `/proc/self/fd/<fd>/<name>`: `name` looked up in the directory the handle holds. */
export function inDir(dir: FileHandle, name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
    throw new UnsafePathError(`not a single path component: ${printable(name)}`, "EINVAL", name);
  return `/proc/self/fd/${dir.fd}/${name}`;
}

function unsafe(err: unknown, display: string): Error {
  const code = (err as NodeJS.ErrnoException).code ?? "EUNKNOWN";
  if (code === "ELOOP")
    return new UnsafePathError(`${display} is a symlink: refusing to follow it`, code, display);
  if (code === "ENOTDIR") return new UnsafePathError(`${display} is not a directory`, code, display);
  if (code === "ENOENT") return new UnsafePathError(`${display} does not exist`, code, display);
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (the O_DIRECTORY check wins); lstat the
 * same fd-relative path (lstat does not follow the last component) to say which it was.
 */
async function unsafeAt(err: unknown, p: string, display: string): Promise<Error> {
  if ((err as NodeJS.ErrnoException).code === "ENOTDIR") {
    try {
      if ((await lstat(p)).isSymbolicLink())
        return unsafe(Object.assign(new Error(), { code: "ELOOP" }), display);
    } catch {
      // gone or unreadable: report the original error
    }
  }
  return unsafe(err, display);
}

/** An open directory plus the path it was reached by (for messages only; never re-resolved). */
export interface DirHandle {
  readonly handle: FileHandle;
  readonly display: string;
}

/**
 * Opens the host root. It must exist and be a directory; it is resolved once (a symlinked root
 * given by the administrator is followed here, once, and never again).
 */
export async function openRoot(root: string): Promise<DirHandle> {
  try {
    const self = await open("/proc/self/fd", constants.O_RDONLY | constants.O_DIRECTORY);
    await self.close();
  } catch {
    throw new UnsafePathError(
      "/proc is not mounted: symlink-safe host writes need /proc/self/fd",
      "ENOENT",
      "/proc",
    );
  }
  try {
    return { handle: await open(root, constants.O_RDONLY | constants.O_DIRECTORY), display: root };
  } catch (err) {
    throw unsafe(err, root);
  }
}

export interface CreateDirs {
  /** Mode of directories this call creates (set with fchmod, so umask does not apply). */
  mode: number;
  owner?: { uid: number; gid: number };
}

/**
 * Opens `segments` below `root` one component at a time, never following a symlink; with
 * `create`, missing directories are made. Returns a new handle the caller must close; `root` is
 * not closed. Throws UnsafePathError (ELOOP, ENOTDIR, ENOENT) for a path that cannot be walked.
 */
export async function openDirBeneath(
  root: DirHandle,
  segments: readonly string[],
  create?: CreateDirs,
): Promise<DirHandle> {
  let cur = root;
  try {
    for (const seg of segments) {
      const display = `${cur.display.replace(/\/$/, "")}/${seg}`;
      const p = inDir(cur.handle, seg);
      let next: FileHandle;
      try {
        next = await open(p, DIR_FLAGS);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || create === undefined)
          throw await unsafeAt(err, p, display);
        let made = false;
        try {
          await mkdir(p, { mode: create.mode });
          made = true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw unsafe(e, display);
        }
        try {
          next = await open(p, DIR_FLAGS);
        } catch (e) {
          throw await unsafeAt(e, p, display);
        }
        if (made) {
          await next.chmod(create.mode);
          if (create.owner !== undefined) await next.chown(create.owner.uid, create.owner.gid);
          // Make the new entry durable before anything is written below it.
          await cur.handle.sync();
        }
      }
      if (cur !== root) await cur.handle.close();
      cur = { handle: next, display };
    }
    if (cur !== root) return cur;
    // No segments: a second handle on the root itself (the magic link names the open directory).
    const again = await open(`/proc/self/fd/${root.handle.fd}`, constants.O_RDONLY | constants.O_DIRECTORY);
    return { handle: again, display: root.display };
  } catch (err) {
    if (cur !== root) await cur.handle.close().catch(() => {});
    throw err;
  }
}

/** Existing entry at a single component of an open directory, without following symlinks. */
export type Existing =
  | { type: "absent" }
  | { type: "file"; bytes: Buffer; stat: Stats }
  | { type: "symlink" }
  | { type: "other"; what: string };

/** Profiles larger than this are not read back (they are not valid profiles either). */
export const MAX_PROFILE_BYTES = 16 * 1024 * 1024;

export async function readEntry(dir: DirHandle, name: string): Promise<Existing> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted at the name must not block the installer.
    fh = await open(
      inDir(dir.handle, name),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { type: "absent" };
    if (code === "ELOOP") return { type: "symlink" };
    if (code === "ENXIO") return { type: "other", what: "a socket or FIFO" };
    throw err;
  }
  try {
    const stat = await fh.stat();
    if (stat.isDirectory()) return { type: "other", what: "a directory" };
    if (!stat.isFile()) return { type: "other", what: "a special file" };
    if (stat.size > MAX_PROFILE_BYTES) return { type: "other", what: `a ${stat.size}-byte file` };
    return { type: "file", bytes: await fh.readFile(), stat };
  } finally {
    await fh.close();
  }
}
