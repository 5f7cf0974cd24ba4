/**
 * Shortcuts for the SECCOMP paths: auditd-form lines are classified and SECCOMP records read where
 * they lie (in the line, or in a larger decoded text: `classifyAt`, `readSeccompAt`), by a few native
 * passes (regexes, indexOf) rather than char loops (`charCodeAt` costs a few ns a char; a regex a
 * fraction of that), with results in module scratch objects (`head`, `rec`), valid until the next call.
 *
 * Everything here is a shortcut for the general code (`parseHeader`, `tokenize`, `seccompEvent`), never
 * a second definition: a shortcut either reaches the answer the general code would, or declines
 * (`LINE_OTHER`, `false`, no match) and the caller takes the general path for that line. Tests check
 * they agree on fixtures and on generated lines.
 */
import {
  ARCH_NAMES,
  type ArchName,
  archInfo,
  syscallName,
  syscallNames,
  syscallNumber,
} from "../syscalls/index.js";
import { idTimeAt, MAX_LINE } from "./line-form.js";

/** A SECCOMP record (its header is in `head`). */
export const LINE_SECCOMP = 0;
/** A valid kernel record of a kind the SECCOMP paths do not want (AVC, AppArmor, EOE) or context. */
export const LINE_IGNORED = 1;
/** A valid kernel record of a type the parser does not interpret. */
export const LINE_UNSUPPORTED = 2;
/** A valid record that user space wrote (USER_* and the like). */
export const LINE_UNTRUSTED = 3;
export const LINE_MALFORMED = 4;
export const LINE_TOO_LONG = 5;
/** Not decided here (another line form, a numeric type): take the general path. */
export const LINE_OTHER = 6;

/** The header `scanAuditd` read: audit id `line[idStart, idEnd)`, its time, where the body starts. */
export const head = { idStart: 0, idEnd: 0, ts: 0, bodyStart: 0 };

/**
 * How the general path (`parseHeader` in auditd form, then `AuditParser` with only `syscall` wanted)
 * classifies a named record type `line[t, end)`; `LINE_OTHER` for numbers and `UNKNOWN[n]`, which it
 * maps through the type table first. Same rules as `isUserSpaceType` (by name, or by number for the
 * named types in RECORD_TYPES: only USER_AVC is in a user range) and the parser's type switch.
 */
function classify(line: string, t: number, end: number): number {
  const len = end - t;
  switch (line.charCodeAt(t)) {
    case 83 /* S */:
      if (len === 7 && line.startsWith("SECCOMP", t)) return LINE_SECCOMP;
      if ((len === 7 && line.startsWith("SYSCALL", t)) || (len === 8 && line.startsWith("SOCKADDR", t)))
        return LINE_IGNORED;
      return LINE_UNSUPPORTED;
    case 80 /* P */:
      if ((len === 4 && line.startsWith("PATH", t)) || (len === 9 && line.startsWith("PROCTITLE", t)))
        return LINE_IGNORED;
      return LINE_UNSUPPORTED;
    case 67 /* C */:
      if (len === 3 && line.startsWith("CWD", t)) return LINE_IGNORED;
      return line.startsWith("CRYPTO_", t) && len >= 7 ? LINE_UNTRUSTED : LINE_UNSUPPORTED;
    case 69 /* E */:
      if ((len === 6 && line.startsWith("EXECVE", t)) || (len === 3 && line.startsWith("EOE", t)))
        return LINE_IGNORED;
      return LINE_UNSUPPORTED;
    case 65 /* A */:
      if ((len === 3 && line.startsWith("AVC", t)) || (len >= 9 && line.startsWith("APPARMOR_", t)))
        return LINE_IGNORED;
      return len >= 10 && line.startsWith("ANOM_LOGIN", t) ? LINE_UNTRUSTED : LINE_UNSUPPORTED;
    case 85 /* U */:
      if (len === 8 && line.startsWith("USER_AVC", t)) return LINE_IGNORED;
      if ((len === 4 && line.startsWith("USER", t)) || (len >= 5 && line.startsWith("USER_", t)))
        return LINE_UNTRUSTED;
      return len >= 8 && line.startsWith("UNKNOWN[", t) ? LINE_OTHER : LINE_UNSUPPORTED;
    case 68 /* D */:
      return len >= 7 && line.startsWith("DAEMON_", t) ? LINE_UNTRUSTED : LINE_UNSUPPORTED;
    case 48:
    case 49:
    case 50:
    case 51:
    case 52:
    case 53:
    case 54:
    case 55:
    case 56:
    case 57:
      return LINE_OTHER;
    default:
      return LINE_UNSUPPORTED;
  }
}

/**
 * Reads `[node=N ]type=NAME msg=audit(ID): ` the way `parseHeader` reads the auditd form (formats
 * `auto` and `auditd` agree on lines of this form) and classifies the record; fills `head`.
 */
function scanAuditd(line: string): number {
  if (line.length > MAX_LINE) return LINE_TOO_LONG;
  let p = 0;
  const c0 = line.charCodeAt(0);
  if (c0 === 110 /* n */) {
    if (!line.startsWith("node=")) return LINE_OTHER;
    p = line.indexOf(" ") + 1;
    if (p === 0) return LINE_MALFORMED;
  } else if (c0 !== 116 /* t */) return LINE_OTHER;
  if (!line.startsWith("type=", p)) return LINE_OTHER;
  const t = p + 5;
  const sp = line.startsWith("SECCOMP ", t) ? t + 7 : line.indexOf(" ", t);
  if (sp < 0 || !line.startsWith("msg=audit(", sp + 1)) return LINE_MALFORMED;
  const a = sp + 5;
  const close = line.indexOf(")", a + 6);
  if (close < 0 || close - a > 40 || line.charCodeAt(close + 1) !== 58 /* : */) return LINE_MALFORMED;
  const ts = idTimeAt(line, a + 6, close);
  if (ts === null) return LINE_MALFORMED;
  head.idStart = a + 6;
  head.idEnd = close;
  head.ts = ts;
  head.bodyStart = line.charCodeAt(close + 2) === 32 ? close + 3 : close + 2;
  return classify(line, t, sp);
}

/**
 * The rest of an auditd-form header as the kernel writes it: `audit(SEC.MS:SERIAL):`, ms in 3 digits,
 * serial a u32. Such an id is at most 34 chars and of plain digits, which `parseHeader` always accepts;
 * other ids take the general path.
 */
const STAMP_TAIL = String.raw` msg=audit\(\d{1,19}\.\d{3}:\d{1,10}\):`;
/**
 * Kernel headers by what `classify` makes of their type: one native pass per line instead of char
 * loops. The three take disjoint sets of types, so the first letter of the type picks which to try.
 */
const IGNORED_LINE = new RegExp(
  `(?:node=[^ \n]* )?type=(?:SYSCALL|PATH|CWD|EXECVE|PROCTITLE|SOCKADDR|EOE|AVC|USER_AVC|APPARMOR_[^ \n]*)${STAMP_TAIL}`,
  "y",
);
const UNTRUSTED_LINE = new RegExp(
  `(?:node=[^ \n]* )?type=(?:USER|(?!USER_AVC )(?:USER_|DAEMON_|CRYPTO_|ANOM_LOGIN)[^ \n]*)${STAMP_TAIL}`,
  "y",
);
/**
 * Any other type, except SECCOMP and those the general path maps through the type table first (the
 * types above are excluded by their first letters).
 */
const UNSUPPORTED_LINE = new RegExp(
  `(?:node=[^ \n]* )?type=(?!SECCOMP |UNKNOWN\\[|\\d|[UDSPECA])[^ \n]*${STAMP_TAIL}`,
  "y",
);
/** The same for types starting with one of those letters (after the other two did not match). */
const UNSUPPORTED_UDSPECA_LINE = new RegExp(
  `(?:node=[^ \n]* )?type=(?!SECCOMP |UNKNOWN\\[)[UDSPECA][^ \n]*${STAMP_TAIL}`,
  "y",
);

/** `re` matches `text` at `at` (sticky). */
function matchesAt(re: RegExp, text: string, at: number): boolean {
  re.lastIndex = at;
  return re.test(text);
}

/**
 * `scanAuditd`, faster for lines whose header is the kernel's. `head` is filled only when the result
 * is `LINE_SECCOMP`.
 */
export function classifyLine(line: string): number {
  return classifyAt(line, 0, line.length);
}

/**
 * `classifyLine` of the line `text[start, end)` (no newline inside; `end` at a newline or the end of
 * `text`). Only what the regexes decide is read in place; anything else is sliced out for `scanAuditd`,
 * whose `head` then refers to the sliced line.
 */
export function classifyAt(text: string, start: number, end: number): number {
  if (end - start > MAX_LINE) return LINE_TOO_LONG;
  const c0 = text.charCodeAt(start);
  if (c0 !== 116 /* t */ && c0 !== 110 /* n */) return scanAuditd(text.slice(start, end));
  const c = c0 === 116 ? text.charCodeAt(start + 5) : 0;
  switch (c) {
    case 85 /* U */:
    case 68 /* D */:
      if (matchesAt(UNTRUSTED_LINE, text, start)) return LINE_UNTRUSTED;
      if (c === 85 && matchesAt(IGNORED_LINE, text, start)) return LINE_IGNORED;
      break;
    case 83 /* S */:
    case 80 /* P */:
    case 69 /* E */:
      if (matchesAt(IGNORED_LINE, text, start)) return LINE_IGNORED;
      break;
    case 67 /* C */:
    case 65 /* A */:
    case 0 /* node=… */:
      if (matchesAt(IGNORED_LINE, text, start)) return LINE_IGNORED;
      if (matchesAt(UNTRUSTED_LINE, text, start)) return LINE_UNTRUSTED;
      if (c === 0 && matchesAt(UNSUPPORTED_LINE, text, start)) return LINE_UNSUPPORTED;
      break;
    default:
      if (matchesAt(UNSUPPORTED_LINE, text, start)) return LINE_UNSUPPORTED;
      return scanAuditd(text.slice(start, end));
  }
  if (matchesAt(UNSUPPORTED_UDSPECA_LINE, text, start)) return LINE_UNSUPPORTED;
  return scanAuditd(text.slice(start, end));
}

/** Whether the line at `start` can be an auditd-form SECCOMP record: `type=SE…` or `node=…`. */
export function maybeSeccompAt(text: string, start: number): boolean {
  const c = text.charCodeAt(start);
  return (c === 116 && text.charCodeAt(start + 5) === 83 && text.charCodeAt(start + 6) === 69) || c === 110;
}

/** Whether `line` can be an auditd-form SECCOMP record: `type=SE…` or `node=…`. */
export function maybeSeccomp(line: string): boolean {
  const c = line.charCodeAt(0);
  return (c === 116 && line.charCodeAt(5) === 83 && line.charCodeAt(6) === 69) || c === 110;
}

/** End of the kernel's part of a record: auditd's ENRICHED format appends its own after 0x1d. */
export function bodyEndOf(line: string, from: number): number {
  const gs = line.indexOf("\x1d", from);
  return gs < 0 ? line.length : gs;
}

// ---------------------------------------------------------------------------------------------
// Arch and syscall name

/** Arches by index: `ARCH_NAMES` order. */
const X32 = ARCH_NAMES.indexOf("x32");
const X86_64 = ARCH_NAMES.indexOf("x86_64");
const ARCH_INDEX: ReadonlyMap<ArchName, number> = new Map(ARCH_NAMES.map((a, i) => [a, i]));

/** Audit arch codes → arch index, first name wins (x86_64 over x32, which shares its code). */
const ARCH_CODES: number[] = [];
const ARCH_OF_CODE: number[] = [];
for (const [i, name] of ARCH_NAMES.entries()) {
  const code = Number.parseInt(archInfo(name).auditCode, 16);
  if (!ARCH_CODES.includes(code)) {
    ARCH_CODES.push(code);
    ARCH_OF_CODE.push(i);
  }
}
const X32_BIT = 0x40000000;
const X86_64_CODE = 0xc000003e;

/** `archFromAudit` for the code's value (at most 8 significant hex digits), as an index; -1: unknown. */
function archIndexOfCode(code: number, nr: number): number {
  let arch = -1;
  for (let k = 0; k < ARCH_CODES.length; k++) {
    if (ARCH_CODES[k] === code) {
      arch = ARCH_OF_CODE[k] ?? -1;
      break;
    }
  }
  return arch === X86_64 && (nr & X32_BIT) !== 0 ? X32 : arch;
}

const ARCH_BY_HEX = new Map<string, number>();
let lastHex = "";
let lastHexCode = 0;

/**
 * `archFromAudit` for 1–8 significant hex digits (leading zeros stripped), as an index in `ARCH_NAMES`
 * (-1: unknown). The last code is kept apart: comparing with it costs less than hashing a fresh string
 * for the map.
 */
export function archIndexOfHex(hex: string, nr: number): number {
  let code = lastHexCode;
  if (hex !== lastHex) {
    const known = ARCH_BY_HEX.get(hex);
    code = known ?? Number.parseInt(hex, 16);
    if (known === undefined && ARCH_BY_HEX.size < 256) ARCH_BY_HEX.set(hex, code);
    lastHex = hex;
    lastHexCode = code;
  }
  return archIndexOfCode(code, nr);
}

/** Syscall names by number below this, per arch index, in plain arrays; the rest by `syscallName`. */
const DENSE = 1024;
const DENSE_NAMES: (readonly string[] | undefined)[] = [];

function denseNames(ai: number): readonly string[] {
  const arch = ARCH_NAMES[ai];
  const list: string[] = new Array<string>(DENSE).fill("");
  if (arch !== undefined) {
    const base = ai === X32 ? X32_BIT : 0;
    for (const name of syscallNames(arch)) {
      const i = (syscallNumber(arch, name) ?? -1) - base;
      if (i >= 0 && i < DENSE) list[i] = name;
    }
  }
  DENSE_NAMES[ai] = list;
  return list;
}

/** `syscallName(ARCH_NAMES[ai], nr)`, from an array for the usual numbers. */
export function nameAt(ai: number, nr: number): string | undefined {
  const i = ai === X32 ? nr - X32_BIT : nr;
  if (i >= 0 && i < DENSE) {
    const name = (DENSE_NAMES[ai] ?? denseNames(ai))[i];
    return name === "" ? undefined : name;
  }
  const arch = ARCH_NAMES[ai];
  return arch === undefined ? undefined : syscallName(arch, nr);
}

/** Where syscall `nr` of arch `ai` is in the dense tables, or -1 beyond them. */
export function denseIndex(ai: number, nr: number): number {
  const i = ai === X32 ? nr - X32_BIT : nr;
  return i >= 0 && i < DENSE ? i : -1;
}

/** The syscall number at dense index `i` of arch `ai` (`denseIndex` backwards). */
export function denseNumber(ai: number, i: number): number {
  return ai === X32 ? i + X32_BIT : i;
}

export const DENSE_SIZE = DENSE;

/** Where `arch` is in `ARCH_NAMES`. */
export function archIndex(arch: ArchName): number {
  return ARCH_INDEX.get(arch) ?? -1;
}

/** `decimal()` of a string of 1–15 digits. */
export function digitsValue(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) n = n * 10 + (s.charCodeAt(i) - 48);
  return n;
}

// ---------------------------------------------------------------------------------------------
// SECCOMP records

// Parts of the regexes below: values as the tokenizer reads them, and only in the kernel's forms; no
// class runs past a newline (lines may be read inside a larger text) or into auditd's 0x1d part.

/** An LSM label; AppArmor's has bare words after it (`subj=name (enforce)`), glued to it by the tokenizer. */
const SUBJ = String.raw`(?:subj=[^ "'\x1d\n][^ \x1d\n]*(?: +(?![\w-]+=)[^ \x1d\n]+)* +)?`;
/** comm, exe: quoted (to the next quote), or unquoted and not empty, or empty. */
const STRING = String.raw`(?:"[^"\x1d\n]*"|[^ "'\x1d\n][^ \x1d\n]*|)`;
/** After the syscall number: the end of the kernel part, or the next field (no bare word to glue). */
const AFTER_NR = String.raw`(?=\n|$|\x1d| +(?:\n|$|\x1d|[\w-]+=))`;

const NR = String.raw`\d{1,15}${AFTER_NR}`;
/** From pid to the syscall number; `x86_64` and `other` end the match at different places (see below). */
const TAIL = (x86_64: string, other: string) =>
  String.raw`${SUBJ}pid=\d{1,15} comm=${STRING} exe=${STRING} sig=\d+ arch=(?:c000003e ${x86_64}|0*[\da-fA-F]{1,8} ${other})`;
/**
 * A SECCOMP line of the auditd form, as the kernel lays it out, up to the syscall number (lookaheads
 * check the number and what follows it). A line it matches is one the general path reads the same
 * way: header as `parseHeader` reads it; every field the first of its key; no value running into
 * auditd's 0x1d part; no bare word glued to a value read.
 *
 * Where the match ends tells `readSeccompAt` two things it would otherwise have to read: whether the
 * arch is x86_64's code and whether ses is 4294967295 (no login session: most container records).
 * The char at the end is the number's first digit (x86_64, no session), or the next char of
 * `syscall=`: `l` (other arch, no session), `a` (x86_64, a session), `c` (other arch, a session).
 */
const SECCOMP_LINE = new RegExp(
  String.raw`(?:node=[^ \n]* )?type=SECCOMP${STAMP_TAIL} ?auid=\d+ uid=\d+ gid=\d+ ses=(?:4294967295 ${TAIL(
    `syscall=(?=${NR})`,
    `sysca(?=ll=${NR})`,
  )}|\d{1,15} ${TAIL(`sysc(?=all=${NR})`, `sys(?=call=${NR})`)})`,
  "y",
);
const NO_SESSION = 4294967295;

/**
 * What `readSeccompAt` read: numbers as `decimal()` gives them, arch as `archFromAudit` (an index in
 * `ARCH_NAMES`, -1 when unknown), where comm's raw value starts.
 */
export const rec = { ses: 0, pid: 0, arch: -1, nr: 0, comm: 0 };

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * If the line at `start` of `line` (see `classifyAt`) is a SECCOMP record in the kernel's layout
 * (`SECCOMP_LINE`), reads its ses, arch and syscall, and with `withPid` its pid and where comm's value
 * starts, into `rec` and returns true; else false, having read nothing. No allocation.
 */
export function readSeccompAt(line: string, start: number, withPid: boolean): boolean {
  SECCOMP_LINE.lastIndex = start;
  if (!SECCOMP_LINE.test(line)) return false;
  // The regex vouched for the layout: the values are where this finds them.
  const end = SECCOMP_LINE.lastIndex;
  const cut = line.charCodeAt(end);
  const x86_64 = cut <= 57 /* a digit */ || cut === 97; /* a */
  const session = cut === 97 || cut === 99; /* a, c */
  const at = cut <= 57 ? end : cut === 108 /* l */ ? end + 3 : cut === 97 ? end + 4 : end + 5;
  let i = at;
  let n = 0;
  let c = line.charCodeAt(i);
  while (c >= 48 && c <= 57) {
    n = n * 10 + (c - 48);
    c = line.charCodeAt(++i);
  }
  rec.nr = n;
  // arch: the hex digits before ` syscall=`, read backwards.
  let code = X86_64_CODE;
  if (!x86_64) {
    code = 0;
    let scale = 1;
    for (let j = at - 10, d = hexDigit(line.charCodeAt(j)); d >= 0; d = hexDigit(line.charCodeAt(--j))) {
      code += d * scale;
      scale *= 16;
    }
  }
  rec.arch = archIndexOfCode(code, n);
  if (!session && !withPid) {
    rec.ses = NO_SESSION;
    return true;
  }
  // ses: the first "ses=" 30 chars past the start of type= (the shortest header, type=SECCOMP
  // msg=audit(1.000:1):, has 32): before it come only digits and auid=, uid=, gid=. (A node name may
  // hold anything but a space, so it is skipped.)
  i = line.indexOf("ses=", line.charCodeAt(start) === 110 ? line.indexOf(" ", start) + 31 : start + 30) + 4;
  n = 0;
  c = line.charCodeAt(i);
  while (c !== 32) {
    n = n * 10 + (c - 48);
    c = line.charCodeAt(++i);
  }
  rec.ses = n;
  if (!withPid) return true;
  i = line.charCodeAt(i + 1) === 112 /* p */ ? i + 5 : line.indexOf(" pid=", i) + 5;
  n = 0;
  c = line.charCodeAt(i);
  while (c !== 32) {
    n = n * 10 + (c - 48);
    c = line.charCodeAt(++i);
  }
  rec.pid = n;
  rec.comm = i + 6;
  return true;
}

/**
 * The values nearly every record a recorder reads has: no login session (container processes), the
 * x86_64 arch code, and `SCMP_ACT_LOG` (what a recording filter returns). `BODY` matches them as
 * literals ahead of the general capture, so for them no capture (no substring) is made: `exec` with
 * every value captured cost about twice the match itself.
 */
export const COMMON_SES = "4294967295";
export const COMMON_ARCH = "c000003e";
export const COMMON_CODE = "0x7ffc0000";

/**
 * A SECCOMP body as the kernel lays it out, whole, with the values an event needs captured: ses, pid,
 * comm (quoted: 3, else 4), exe (5, 6), arch (significant digits), syscall, code. ses, arch and code
 * are undefined when they are the `COMMON_*` text (a literal alternative first; where it fails the
 * capture takes over, so the language is the one without it). Quoted values may hold anything but a
 * quote (captures, not searches, find the fields here). It must run to the end of the kernel part, so
 * that no bare word is glued to code's value.
 */
const BODY = String.raw`auid=\d+ uid=\d+ gid=\d+ ses=(?:${COMMON_SES}|(\d{1,15})) ${SUBJ}pid=(\d{1,15}) comm=(?:"([^"\x1d]*)"|([^ "'\x1d][^ \x1d]*)|) exe=(?:"([^"\x1d]*)"|([^ "'\x1d][^ \x1d]*)|) sig=\d+ arch=(?:${COMMON_ARCH}|0*([\da-fA-F]{1,8})) syscall=(\d{1,15}) compat=\d+ ip=[^ "'\x1d][^ \x1d]* code=(?:${COMMON_CODE}|([^ "'\x1d][^ \x1d]*|)) *(?=\x1d|$)`;

/** `BODY` where a body starts (`lastIndex`). */
export const SECCOMP_BODY = new RegExp(BODY, "y");
/**
 * A whole SECCOMP line of the auditd form: the audit id (1) and its seconds (2) and milliseconds (3),
 * which make its time without reading the id again, then `BODY`'s captures from 4 on.
 */
export const SECCOMP_RECORD = new RegExp(
  String.raw`^(?:node=[^ ]* )?type=SECCOMP msg=audit\(((\d{1,15})\.(\d{3}):\d{1,10})\): ?${BODY}`,
);
