/**
 * Key=value tokenizer for the body of a kernel audit record.
 *
 * The kernel quotes a string only when it holds no space, quote or control byte; otherwise it
 * hex-encodes it without quotes. So a field ends at a space (unquoted) or at the closing quote,
 * and nothing inside a value can start a new field. Values are stored raw (quotes kept) and
 * decoded on access, so fields nobody reads cost nothing.
 */
export type Fields = Map<string, string>;

function isKeyChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 // a-z A-Z 0-9 _ -
  );
}

/** Tokenizes `s` from `start` to `end`. First occurrence of a key wins. */
export function tokenize(s: string, start = 0, end = s.length): Fields {
  const out: Fields = new Map();
  let i = start;
  let lastKey: string | undefined;
  let lastQuoted = true;
  while (i < end) {
    while (i < end && s.charCodeAt(i) === 32) i++;
    if (i >= end) break;
    let sp = s.indexOf(" ", i);
    if (sp < 0 || sp > end) sp = end;
    let k = i;
    while (k < sp && isKeyChar(s.charCodeAt(k))) k++;
    if (k === i || k >= sp || s.charCodeAt(k) !== 61 /* = */) {
      // A bare word. The only kernel field with spaces is a label such as AppArmor's
      // `subj=/usr/bin/x (enforce)`: glue the word to the unquoted value before it.
      if (lastKey !== undefined && !lastQuoted && out.get(lastKey) !== undefined) {
        out.set(lastKey, `${out.get(lastKey)} ${s.slice(i, sp)}`);
      }
      i = sp + 1;
      continue;
    }
    const key = s.slice(i, k);
    const v = k + 1;
    const q = s.charCodeAt(v);
    let value: string;
    if (q === 34 /* " */) {
      let close = s.indexOf('"', v + 1);
      if (close < 0 || close >= end) close = end - 1;
      value = s.slice(v, close + 1);
      i = close + 1;
      lastQuoted = true;
    } else if (q === 39 /* ' */) {
      // msg='…' of user-space records runs to the last quote of the record.
      let close = s.lastIndexOf("'", end - 1);
      if (close <= v) close = end - 1;
      value = s.slice(v, close + 1);
      i = close + 1;
      lastQuoted = true;
    } else {
      value = s.slice(v, sp);
      i = sp;
      lastQuoted = false;
    }
    if (!out.has(key)) {
      out.set(key, value);
      lastKey = key;
    } else lastKey = undefined;
  }
  return out;
}

function isUpperHex(s: string): boolean {
  if (s.length === 0 || s.length % 2 !== 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

const utf8 = new TextDecoder("utf-8");

export function decodeHex(s: string): string {
  return utf8.decode(Buffer.from(s, "hex"));
}

/**
 * A string field as the kernel meant it: quoted → as is; unquoted upper-case hex of even
 * length → decoded (the kernel's encoding for untrusted strings with spaces, quotes or control
 * bytes); anything else (`(null)`, `?`, numbers) → as is.
 */
export function untrustedString(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw.length >= 2 && raw.charCodeAt(0) === 34 && raw.charCodeAt(raw.length - 1) === 34)
    return raw.slice(1, -1);
  if (isUpperHex(raw)) return decodeHex(raw);
  return raw;
}

/** Strips quotes from a value that is never hex-encoded (labels, masks, operations). */
export function plain(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw.length >= 2 && raw.charCodeAt(0) === 34 && raw.charCodeAt(raw.length - 1) === 34)
    return raw.slice(1, -1);
  return raw;
}

export function decimal(raw: string | undefined): number | null {
  if (raw === undefined || raw.length === 0 || raw.length > 15) return null;
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return null;
    n = n * 10 + c;
  }
  return n;
}

/** `0x7ffc0000` or bare hex. */
export function hexNumber(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const s = raw.startsWith("0x") || raw.startsWith("0X") ? raw.slice(2) : raw;
  if (s.length === 0 || s.length > 13 || !/^[0-9a-fA-F]+$/.test(s)) return null;
  return Number.parseInt(s, 16);
}
