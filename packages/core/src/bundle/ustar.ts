/**
 * A small, strict POSIX ustar codec over bytes, shared by the bundle writer and `secprof pull`.
 * The encoder writes only regular files with fixed metadata (mode 0644, uid/gid 0, no user or
 * group names, one mtime), so equal input gives byte-identical archives. Names longer than the
 * 100-byte ustar field get a pax `path` record. The decoder reports every entry with its raw
 * type and path and leaves policy (what to accept) to the caller; it only refuses what it cannot
 * decode safely: bad checksums, unknown formats, oversize or truncated entries, trailing data.
 */

const BLOCK = 512;
const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });

export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

export interface TarFile {
  path: string;
  data: Uint8Array;
}

export interface UstarEncodeOptions {
  /** Seconds since the epoch for every entry; default 0. */
  mtime?: number;
}

function putString(h: Uint8Array, off: number, len: number, s: string): void {
  const b = te.encode(s);
  if (b.length > len) throw new TarFormatError(`field too long: ${s}`);
  h.set(b, off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  const digits = n.toString(8);
  if (digits.length > len - 1) throw new TarFormatError(`value ${n} does not fit a ${len}-byte field`);
  putString(h, off, len, `${digits.padStart(len - 1, "0")}\0`);
}

function header(name: Uint8Array, size: number, type: "0" | "x", mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(name.subarray(0, 100), 0);
  putOctal(h, 100, 8, 0o644);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  putString(h, 156, 1, type);
  putString(h, 257, 6, "ustar\0");
  putString(h, 263, 2, "00");
  putOctal(h, 329, 8, 0);
  putOctal(h, 337, 8, 0);
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

/** One pax record: `<len> <key>=<value>\n`, where len counts the whole record including itself. */
function paxRecord(key: string, value: string): Uint8Array {
  const body = te.encode(` ${key}=${value}\n`).length;
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return te.encode(`${len} ${key}=${value}\n`);
}

function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** Regular files, in the given order, then the two zero blocks that end an archive. */
export function encodeUstar(files: readonly TarFile[], opts: UstarEncodeOptions = {}): Uint8Array {
  const mtime = opts.mtime ?? 0;
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const name = te.encode(f.path);
    if (name.length === 0 || name.includes(0))
      throw new TarFormatError(`invalid entry name ${JSON.stringify(f.path)}`);
    if (name.length > 100) {
      const pax = paxRecord("path", f.path);
      parts.push(header(te.encode("PaxHeader"), pax.length, "x", mtime), pax);
    }
    parts.push(header(name, f.data.length, "0", mtime), f.data);
  }
  const total = parts.reduce((n, p) => n + padded(p.length), 0) + 2 * BLOCK;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += padded(p.length);
  }
  return out;
}

/** ustar type flags, named for error messages. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  "0": "regular file",
  "1": "hard link",
  "2": "symbolic link",
  "3": "character device",
  "4": "block device",
  "5": "directory",
  "6": "FIFO",
  "7": "contiguous file",
  g: "pax global header",
  x: "pax header",
  L: "GNU long name",
  K: "GNU long link name",
  S: "GNU sparse file",
  V: "GNU volume header",
};

export function tarTypeName(type: string): string {
  return TYPE_NAMES[type] ?? `entry of type ${JSON.stringify(type)}`;
}

export interface TarEntry {
  path: string;
  /** The raw type flag: "0" for regular files ("\0" is reported as "0"), "2" symlink, "5" directory… */
  type: string;
  /** Link target for links. */
  linkpath: string;
  size: number;
  /** The entry's content; empty for types that carry none. */
  data: Uint8Array;
}

export interface UstarDecodeLimits {
  maxEntries: number;
  /** Checked against the declared size before any content is read. */
  maxEntryBytes: number;
  maxTotalBytes: number;
}

function cString(b: Uint8Array, off: number, len: number, what: string): string {
  const field = b.subarray(off, off + len);
  const end = field.indexOf(0);
  try {
    return td.decode(end === -1 ? field : field.subarray(0, end));
  } catch {
    throw new TarFormatError(`${what} is not valid UTF-8`);
  }
}

function octal(b: Uint8Array, off: number, len: number, what: string): number {
  if (((b[off] ?? 0) & 0x80) !== 0) return Number.POSITIVE_INFINITY; // base-256: > 8 GiB
  const s = cString(b, off, len, what).replace(/^[ ]+|[ \0]+$/g, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`${what} is not an octal number`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const want = octal(h, 148, 8, "header checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** Parses a pax extended header (byte-counted records); only `path` is honoured, anything else is refused. */
function paxPath(data: Uint8Array): string {
  let path: string | undefined;
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const digits = sp < 0 ? "" : String.fromCharCode(...data.subarray(pos, sp));
    const len = /^[1-9][0-9]{0,5}$/.test(digits) ? Number(digits) : 0;
    const end = pos + len;
    if (len === 0 || end > data.length || data[end - 1] !== 0x0a)
      throw new TarFormatError("malformed pax header");
    let kv: string;
    try {
      kv = td.decode(data.subarray(sp + 1, end - 1));
    } catch {
      throw new TarFormatError("pax header is not valid UTF-8");
    }
    const eq = kv.indexOf("=");
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (key !== "path") throw new TarFormatError(`unsupported pax record ${JSON.stringify(key)}`);
    path = kv.slice(eq + 1);
    pos = end;
  }
  if (path === undefined) throw new TarFormatError("pax header without a path");
  return path;
}

const MAX_PAX_BYTES = 64 * 1024;

/**
 * Every entry of an uncompressed ustar archive. Throws TarFormatError for anything that is not a
 * well-formed archive within `limits`, including a declared size over the limit (checked before
 * reading), a truncated entry, a missing end-of-archive marker or non-zero bytes after it.
 */
export function decodeUstar(bytes: Uint8Array, limits: UstarDecodeLimits): TarEntry[] {
  const entries: TarEntry[] = [];
  let total = 0;
  let off = 0;
  let pendingPath: string | undefined;
  while (off + BLOCK <= bytes.length) {
    const h = bytes.subarray(off, off + BLOCK);
    if (isZero(h)) {
      if (!isZero(bytes.subarray(off))) throw new TarFormatError("data after the end-of-archive marker");
      if (pendingPath !== undefined) throw new TarFormatError("pax header without a following entry");
      return entries;
    }
    const where = `entry ${entries.length + 1}`;
    if (!checksumOk(h)) throw new TarFormatError(`${where}: header checksum mismatch (not a tar archive?)`);
    const magic = cString(h, 257, 6, "magic");
    if (magic !== "ustar" && magic !== "ustar ")
      throw new TarFormatError(`${where}: not a ustar header (magic ${JSON.stringify(magic)})`);
    const rawType = String.fromCharCode(h[156] ?? 0);
    const type = rawType === "\0" ? "0" : rawType;
    const name = cString(h, 0, 100, `${where} name`);
    const prefix = magic === "ustar" ? cString(h, 345, 155, `${where} prefix`) : "";
    const path = pendingPath ?? (prefix === "" ? name : `${prefix}/${name}`);
    const size = octal(h, 124, 12, `${where} size`);
    const label = `${where} ${JSON.stringify(path)}`;
    const max = type === "x" ? MAX_PAX_BYTES : limits.maxEntryBytes;
    if (size > max)
      throw new TarFormatError(
        `${label} declares ${Number.isFinite(size) ? size : "over 8 GiB of"} bytes, over the limit of ${max}`,
      );
    total += size;
    if (total > limits.maxTotalBytes)
      throw new TarFormatError(`${label}: the archive holds more than ${limits.maxTotalBytes} bytes`);
    const start = off + BLOCK;
    if (start + size > bytes.length) throw new TarFormatError(`${label} is truncated`);
    const data = bytes.subarray(start, start + size);
    off = start + padded(size);
    if (type === "x") {
      if (pendingPath !== undefined) throw new TarFormatError(`${where}: two pax headers in a row`);
      pendingPath = paxPath(data);
      continue;
    }
    pendingPath = undefined;
    if (entries.length >= limits.maxEntries)
      throw new TarFormatError(`the archive has more than ${limits.maxEntries} entries`);
    entries.push({ path, type, linkpath: cString(h, 157, 100, `${where} link name`), size, data });
  }
  throw new TarFormatError(
    off === bytes.length ? "truncated archive: no end-of-archive marker" : "truncated archive",
  );
}
