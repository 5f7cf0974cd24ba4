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

/** `1613596317.899:6461` → ms since epoch, or null when it is not that shape. */
function idTime(id: string): number | null {
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

/** Parses `audit(ID): ` at `p`; returns the body start, or -1. */
function auditStamp(line: string, p: number, out: { id: string; ts: number }): number {
  if (!line.startsWith("audit(", p)) return -1;
  const close = line.indexOf(")", p + 6);
  if (close < 0 || close - p > 40) return -1;
  const id = line.slice(p + 6, close);
  const ts = idTime(id);
  if (ts === null || line.charCodeAt(close + 1) !== 58 /* : */) return -1;
  out.id = id;
  out.ts = ts;
  return line.charCodeAt(close + 2) === 32 ? close + 3 : close + 2;
}

function typeFromToken(tok: string): { type: string; typeNr: number | undefined } {
  if (/^\d+$/.test(tok)) {
    const nr = Number(tok);
    return { type: typeName(nr) ?? `UNKNOWN[${nr}]`, typeNr: nr };
  }
  const m = /^UNKNOWN\[(\d+)\]$/.exec(tok);
  if (m?.[1] !== undefined) {
    const nr = Number(m[1]);
    return { type: typeName(nr) ?? tok, typeNr: nr };
  }
  return { type: tok, typeNr: RECORD_TYPES[tok] };
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
  const { type, typeNr } = typeFromToken(line.slice(p + 5, sp));
  if (!line.startsWith("msg=", sp + 1)) return "malformed";
  const stamp = { id: "", ts: 0 };
  const body = auditStamp(line, sp + 5, stamp);
  if (body < 0) return "malformed";
  return {
    source: "auditd",
    type,
    typeNr,
    ts: stamp.ts,
    auditId: stamp.id,
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
  const tok = line.slice(p + 5, sp);
  if (!/^\d+$/.test(tok)) return "malformed";
  const { type, typeNr } = typeFromToken(tok);
  const stamp = { id: "", ts: 0 };
  const body = auditStamp(line, sp + 1, stamp);
  if (body < 0) return "malformed";
  return {
    source,
    type,
    typeNr,
    ts: stamp.ts,
    auditId: stamp.id,
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
  const { type, typeNr } = typeFromToken(tok);
  const body = sp < 0 ? line.length : sp + 1;
  return {
    source: "journal",
    type,
    typeNr,
    ts: null,
    auditId: null,
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
