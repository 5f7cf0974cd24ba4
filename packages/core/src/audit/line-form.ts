import type { EventSource } from "../schemas/events.js";
import { RECORD_TYPES, typeName } from "./record-types.js";

export type InputFormat = "auto" | "auditd" | "syslog" | "journal";
export type DropReason =
  | "not_audit"
  | "unsupported_type"
  | "malformed"
  | "untrusted_source"
  | "unknown_arch"
  | "unknown_syscall"
  | "too_long";

/** Where a record's body is inside its line, and what its header said. */
export interface Header {
  source: EventSource;
  type: string;
  typeNr: number | undefined;
  ts: number | null;
  auditId: string | null;
  /** The audit id's serial when it is a plain number; -1 otherwise (or no id). A key for grouping. */
  serial: number;
  bodyStart: number;
  bodyEnd: number;
}

export type HeaderResult = Header | DropReason;

/** Audit records are at most ~9 KB (MAX_AUDIT_MESSAGE_LENGTH); enriched lines add a little. */
export const MAX_LINE = 65_536;

function bodyEnd(line: string, from: number): number {
  // auditd's ENRICHED format appends interpreted fields after a 0x1d byte: only the raw
  // fields before it are the kernel's.
  const gs = line.indexOf("\x1d", from);
  return gs < 0 ? line.length : gs;
}

/** The old, lenient reading of an audit id (Number() per part); shapes other than plain digits only. */
function idTimeSlow(id: string): number | null {
  const colon = id.indexOf(":");
  const dot = id.indexOf(".");
  if (colon < 0 || dot < 0 || dot > colon) return null;
  const sec = Number(id.slice(0, dot));
  const ms = Number(id.slice(dot + 1, colon));
  const serial = Number(id.slice(colon + 1));
  if (!Number.isInteger(sec) || !Number.isInteger(ms) || !Number.isInteger(serial) || colon === id.length - 1)
    return null;
  return sec * 1000 + ms;
}

/** The serial `idTimeAt` last read, -1 when the id was not of the plain shape. */
let idSerial = -1;

/**
 * `1613596317.899:6461` in `line[from, to)` → ms since epoch, or null when it is not that shape. The
 * usual shape (1–15 digits, `.`, 1–15 digits, `:`, 1–300 digits) is read in one pass without slicing; any
 * other shape gets the lenient reading above, so both agree on every input. Sets `idSerial`.
 */
export function idTimeAt(line: string, from: number, to: number): number | null {
  let i = from;
  let sec = 0;
  let c = 0;
  for (; i < to; i++) {
    c = line.charCodeAt(i);
    if (c < 48 || c > 57) break;
    sec = sec * 10 + (c - 48);
  }
  if (i > from && i < to && i - from <= 15 && c === 46 /* . */) {
    const msStart = ++i;
    let ms = 0;
    for (; i < to; i++) {
      c = line.charCodeAt(i);
      if (c < 48 || c > 57) break;
      ms = ms * 10 + (c - 48);
    }
    if (i > msStart && i < to && i - msStart <= 15 && c === 58 /* : */) {
      const serialStart = ++i;
      let serial = 0;
      for (; i < to; i++) {
        c = line.charCodeAt(i);
        if (c < 48 || c > 57) break;
        serial = serial * 10 + (c - 48);
      }
      if (i === to && i > serialStart && i - serialStart <= 300) {
        idSerial = serial;
        return sec * 1000 + ms;
      }
    }
  }
  idSerial = -1;
  return idTimeSlow(line.slice(from, to));
}

/** What `auditStamp` found (module scratch: the header parse allocates no result object for it). */
let stampId = "";
let stampTs = 0;
let stampSerial = -1;

/** Parses `audit(ID): ` at `p`; returns the body start, or -1. Sets `stampId`, `stampTs`, `stampSerial`. */
function auditStamp(line: string, p: number): number {
  if (!line.startsWith("audit(", p)) return -1;
  const close = line.indexOf(")", p + 6);
  if (close < 0 || close - p > 40) return -1;
  const ts = idTimeAt(line, p + 6, close);
  if (ts === null || line.charCodeAt(close + 1) !== 58 /* : */) return -1;
  stampId = line.slice(p + 6, close);
  stampTs = ts;
  stampSerial = idSerial;
  return line.charCodeAt(close + 2) === 32 ? close + 3 : close + 2;
}

/** Record type names by first letter, so that a known type token is matched without slicing it. */
const NAMES_BY_FIRST: readonly (readonly string[] | undefined)[] = (() => {
  const by: string[][] = [];
  for (const name of Object.keys(RECORD_TYPES)) {
    const c = name.charCodeAt(0);
    let list = by[c];
    if (list === undefined) {
      list = [];
      by[c] = list;
    }
    list.push(name);
  }
  return by;
})();
const TYPE_NR: ReadonlyMap<string, number> = new Map(Object.entries(RECORD_TYPES));

/** What `typeAt` found. */
let tokType = "";
let tokNr: number | undefined;

function allDigits(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The record type of the token `line[from, to)`: a number (`1326`), `UNKNOWN[1326]` (auditd's name
 * for types it has no name for) or a name. Sets `tokType` and `tokNr`.
 */
function typeAt(line: string, from: number, to: number): void {
  const c = line.charCodeAt(from);
  if (c >= 48 && c <= 57) {
    if (allDigits(line, from, to)) {
      const nr = Number(line.slice(from, to));
      tokType = typeName(nr) ?? `UNKNOWN[${nr}]`;
      tokNr = nr;
      return;
    }
  } else if (c === 85 /* U */ && line.startsWith("UNKNOWN[", from)) {
    if (line.charCodeAt(to - 1) === 93 /* ] */ && allDigits(line, from + 8, to - 1)) {
      const nr = Number(line.slice(from + 8, to - 1));
      tokType = typeName(nr) ?? line.slice(from, to);
      tokNr = nr;
      return;
    }
  } else {
    const names = NAMES_BY_FIRST[c];
    if (names !== undefined) {
      const len = to - from;
      for (const name of names) {
        if (name.length === len && line.startsWith(name, from)) {
          tokType = name;
          tokNr = TYPE_NR.get(name);
          return;
        }
      }
    }
  }
  tokType = line.slice(from, to);
  tokNr = TYPE_NR.get(tokType);
}

/** auditd form: `[node=N ]type=NAME msg=audit(ID): body`. */
function auditdHeader(line: string): HeaderResult {
  let p = 0;
  if (line.startsWith("node=")) {
    p = line.indexOf(" ") + 1;
    if (p === 0) return "malformed";
  }
  if (!line.startsWith("type=", p)) return "not_audit";
  const sp = line.indexOf(" ", p + 5);
  if (sp < 0) return "malformed";
  if (!line.startsWith("msg=", sp + 1)) return "malformed";
  const body = auditStamp(line, sp + 5);
  if (body < 0) return "malformed";
  typeAt(line, p + 5, sp);
  return {
    source: "auditd",
    type: tokType,
    typeNr: tokNr,
    ts: stampTs,
    auditId: stampId,
    serial: stampSerial,
    bodyStart: body,
    bodyEnd: bodyEnd(line, body),
  };
}

/**
 * Kernel printk text after the program: `[uptime] audit: type=NNNN audit(ID): body`. Kernels
 * before 3.x printed the record without the `audit: ` prefix (`[uptime] type=1400 audit(…)`).
 */
function kernelMessage(line: string, p: number, source: EventSource): HeaderResult {
  if (line.charCodeAt(p) === 91 /* [ */) {
    const close = line.indexOf("]", p);
    if (close < 0 || close - p > 24) return "malformed";
    p = close + 1;
    while (line.charCodeAt(p) === 32) p++;
  }
  if (line.startsWith("audit: ", p)) p += 7;
  if (!line.startsWith("type=", p)) return "not_audit";
  const sp = line.indexOf(" ", p + 5);
  if (sp < 0) return "malformed";
  if (!allDigits(line, p + 5, sp)) return "malformed";
  const body = auditStamp(line, sp + 1);
  if (body < 0) return "malformed";
  typeAt(line, p + 5, sp);
  return {
    source,
    type: tokType,
    typeNr: tokNr,
    ts: stampTs,
    auditId: stampId,
    serial: stampSerial,
    bodyStart: body,
    bodyEnd: bodyEnd(line, body),
  };
}

/**
 * The kernel log read directly: `dmesg` (`[uptime] …`), `dmesg -r` (`<5>[uptime] …`),
 * `dmesg --time-format=iso` (`2026-…,123456+00:00 …`) and `/dev/kmsg` (`5,SEQ,USEC,-;…`).
 */
const KMSG_PREFIX =
  /^(?:<\d+>(?=\[)|\d+,\d+,\d+,[^;]*;|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d+[+-]\d\d:\d\d (?=audit|type=))/;

function kmsgHeader(line: string): HeaderResult | undefined {
  if (line.charCodeAt(0) === 91 /* [ */) return kernelMessage(line, 0, "kmsg");
  const m = KMSG_PREFIX.exec(line);
  return m ? kernelMessage(line, m[0].length, "kmsg") : undefined;
}

/** journald short form of a record from the audit socket: `TYPE_NAME field=…` (no audit id). */
function journalMessage(line: string, p: number): HeaderResult {
  const sp = line.indexOf(" ", p);
  const tok = line.slice(p, sp < 0 ? line.length : sp);
  if (tok === "type" || tok.startsWith("type=")) return kernelMessage(line, p, "journal");
  if (!/^[A-Z][A-Z0-9_]*(\[\d+\])?$/.test(tok)) return "malformed";
  typeAt(line, p, p + tok.length);
  const body = sp < 0 ? line.length : sp + 1;
  return {
    source: "journal",
    type: tokType,
    typeNr: tokNr,
    ts: null,
    auditId: null,
    serial: -1,
    bodyStart: body,
    bodyEnd: bodyEnd(line, body),
  };
}

const CLASSIC = /^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d /;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d) /;

/** `<timestamp> host program[pid]: message`: returns program and message start. */
function syslogPrefix(line: string): { program: string; msg: number } | undefined {
  const m = CLASSIC.exec(line) ?? ISO.exec(line);
  if (!m) return undefined;
  const hostEnd = line.indexOf(" ", m[0].length);
  if (hostEnd < 0) return undefined;
  const colon = line.indexOf(": ", hostEnd + 1);
  if (colon < 0) return undefined;
  let program = line.slice(hostEnd + 1, colon);
  const bracket = program.indexOf("[");
  if (bracket >= 0) program = program.slice(0, bracket);
  return { program, msg: colon + 2 };
}

function looksAudit(line: string): boolean {
  return line.includes("type=") || line.includes("audit(") || line.includes("audit:");
}

function syslogHeader(line: string, journalOnly: boolean, syslogOnly: boolean): HeaderResult {
  const kmsg = syslogOnly || journalOnly ? undefined : kmsgHeader(line);
  if (kmsg !== undefined) return kmsg;
  const pre = syslogPrefix(line);
  if (!pre) return looksAudit(line) ? "malformed" : "not_audit";
  // Anyone can write syslog lines with `logger`; only the kernel's own program name (and
  // journald's audit transport) can carry kernel audit records.
  if (pre.program === "kernel" && !journalOnly) return kernelMessage(line, pre.msg, "syslog");
  if (pre.program === "audit" && !syslogOnly) return journalMessage(line, pre.msg);
  return looksAudit(line.slice(pre.msg)) ? "untrusted_source" : "not_audit";
}

export function parseHeader(line: string, format: InputFormat): HeaderResult {
  if (line.length > MAX_LINE) return "too_long";
  switch (format) {
    case "auditd":
      return auditdHeader(line);
    case "syslog":
      return syslogHeader(line, false, true);
    case "journal":
      return syslogHeader(line, true, false);
    case "auto": {
      const c = line.charCodeAt(0);
      if (c === 116 /* t */ || c === 110 /* n */) {
        const h = auditdHeader(line);
        if (h !== "not_audit") return h;
      }
      return syslogHeader(line, false, false);
    }
  }
}
