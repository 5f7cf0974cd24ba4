import type { FileHandle } from "node:fs/promises";
import { open, readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface FileId {
  readonly dev: number;
  readonly ino: number;
}

/** A file opened by name whose identity was then read from the handle, so a later rename cannot change it. */
export interface OpenedFile extends FileId {
  readonly fh: FileHandle;
  readonly name: string;
  /** False for the followed path itself, true for its rotated copies (audit.log.1, audit.log-20240131, ...). */
  readonly rotated: boolean;
  /** Size and mtime when opened. */
  readonly size: number;
  readonly mtimeMs: number;
}

export const sameFile = (a: FileId, b: FileId): boolean => a.dev === b.dev && a.ino === b.ino;

const COMPRESSED = /\.(gz|xz|bz2|zst|lz4|lzma|Z|zip)$/;
const NUMBERED = /^\d{1,4}$/;

/**
 * Rotated copies of `base` among directory `entries`, newest first: numbered ones (auditd and logrotate's
 * default: `.1` is the newest), then dated ones (logrotate `dateext`), whose names sort by date. Compressed
 * copies are left out: their bytes are not the bytes a checkpoint offset refers to.
 */
export function rotatedNames(base: string, entries: readonly string[]): string[] {
  const numbered: Array<[number, string]> = [];
  const dated: string[] = [];
  for (const e of entries) {
    if (e.length <= base.length + 1 || !e.startsWith(base) || COMPRESSED.test(e)) continue;
    const sep = e[base.length];
    if (sep !== "." && sep !== "-") continue;
    const suffix = e.slice(base.length + 1);
    if (NUMBERED.test(suffix)) numbered.push([Number(suffix), e]);
    else if (/\d/.test(suffix)) dated.push(e);
  }
  numbered.sort((a, b) => a[0] - b[0]);
  dated.sort().reverse();
  return [...numbered.map(([, e]) => e), ...dated];
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Opens `path` and pins its identity; undefined when it does not exist. */
export async function openPinned(path: string, rotated = false): Promise<OpenedFile | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return undefined;
    }
    return {
      fh,
      name: basename(path),
      rotated,
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtimeMs: st.mtimeMs,
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Opens the followed file, then its rotated copies newest first, stopping after the first file `stop`
 * accepts. Walking newest to oldest means a rotation in the middle of the walk (names shift towards older)
 * can make a file show up twice (the second sighting is closed) but never skips one, provided every
 * numbered name is tried: a directory listing taken during a rotation can miss a renamed entry, and the
 * shift moves the oldest file to a name the listing did not have yet. So numbered names are probed from
 * 1 up to the highest listed, then on until two in a row are missing (a shift renames from the top down,
 * leaving a one-name gap for a moment).
 */
export async function openNewestFirst(
  path: string,
  stop: (f: OpenedFile) => boolean = () => false,
): Promise<OpenedFile[]> {
  const dir = dirname(path);
  const base = basename(path);
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if (errno(e) !== "ENOENT") throw e;
  }
  const rotated = rotatedNames(base, entries);
  const numbered = rotated.filter((n) => NUMBERED.test(n.slice(base.length + 1)));
  const dated = rotated.filter((n) => !numbered.includes(n));
  const last = numbered.at(-1);
  const prefix = last?.slice(0, base.length + 1) ?? `${base}.`;
  const highest = last === undefined ? 0 : Number(last.slice(base.length + 1));
  const out: OpenedFile[] = [];
  /** "found" also for a second sighting; "gone" when there is no (readable) file by that name. */
  const visit = async (name: string): Promise<"stop" | "found" | "gone"> => {
    let f: OpenedFile | undefined;
    try {
      f = await openPinned(join(dir, name), name !== base);
    } catch (e) {
      // An unreadable rotated copy must not stop us following the live file.
      if (name === base) {
        await closeAll(out);
        throw e;
      }
      return "gone";
    }
    if (f === undefined) return "gone";
    const file = f;
    if (out.some((o) => sameFile(o, file))) {
      await file.fh.close();
      return "found";
    }
    out.push(file);
    return stop(file) ? "stop" : "found";
  };
  if ((await visit(base)) === "stop") return out;
  for (let k = 1, gone = 0; k <= highest || gone < 2; k++) {
    const r = await visit(`${prefix}${k}`);
    if (r === "stop") return out;
    gone = r === "gone" ? gone + 1 : 0;
  }
  for (const name of dated) if ((await visit(name)) === "stop") return out;
  return out;
}

export async function closeAll(files: readonly OpenedFile[], except?: FileHandle): Promise<void> {
  for (const f of files) if (f.fh !== except) await f.fh.close().catch(() => undefined);
}
