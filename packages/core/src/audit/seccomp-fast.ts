import type { EventSource, SeccompRet, SyscallEvent } from "../schemas/events.js";
import { ARCH_NAMES } from "../syscalls/index.js";
import { decodeHex, hexNumber, tokenize } from "./fields.js";
import { seccompAction, seccompEvent } from "./interpret.js";
import type { DropReason, Header } from "./line-form.js";
import {
  archIndexOfHex,
  COMMON_ARCH,
  COMMON_CODE,
  COMMON_SES,
  digitsValue,
  nameAt,
  SECCOMP_BODY,
  SECCOMP_RECORD,
} from "./scan.js";

/** Hex-decoded comm/exe values by raw text: a log repeats the same few programs. */
const decoded = new Map<string, string>();

function isUpperHex(s: string): boolean {
  if (s.length === 0 || s.length % 2 !== 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/** `untrustedString()` of an unquoted raw value. */
export function unquotedString(raw: string): string {
  if (!isUpperHex(raw)) return raw;
  let text = decoded.get(raw);
  if (text === undefined) {
    text = decodeHex(raw);
    if (decoded.size >= 4096) decoded.clear();
    decoded.set(raw, text);
  }
  return text;
}

const actions = new Map<string, SeccompRet | null>();
let lastCode = "";
let lastAction: SeccompRet | null = null;

/**
 * `seccompAction(hexNumber(raw))`, remembered per raw `code=` value. Records repeat the last one
 * mostly: comparing with it costs less than hashing a fresh string for the map.
 */
function actionOf(raw: string): SeccompRet | null {
  if (raw === lastCode) return lastAction;
  let action = actions.get(raw);
  if (action === undefined) {
    action = seccompAction(hexNumber(raw));
    if (actions.size < 256) actions.set(raw, action);
  }
  lastCode = raw;
  lastAction = action;
  return action;
}

const COMMON_SES_VALUE = digitsValue(COMMON_SES);

/** The event of a `SECCOMP_BODY` match whose captures start at `k` (undefined ses, arch, code: `COMMON_*`). */
function fromMatch(
  m: RegExpExecArray,
  k: number,
  source: EventSource,
  ts: number | null,
  auditId: string | null,
): SyscallEvent | DropReason {
  const nr = digitsValue(m[k + 7] ?? "");
  const ai = archIndexOfHex(m[k + 6] ?? COMMON_ARCH, nr);
  const arch = ARCH_NAMES[ai];
  if (arch === undefined) return "unknown_arch";
  const name = nameAt(ai, nr);
  if (name === undefined) return "unknown_syscall";
  const ses = m[k];
  return {
    source,
    ts,
    auditId,
    pid: digitsValue(m[k + 1] ?? ""),
    comm: m[k + 2] ?? unquotedString(m[k + 3] ?? ""),
    exe: m[k + 4] ?? unquotedString(m[k + 5] ?? ""),
    ses: ses === undefined ? COMMON_SES_VALUE : digitsValue(ses),
    mntns: null,
    kind: "syscall",
    arch,
    nr,
    name,
    action: actionOf(m[k + 8] ?? COMMON_CODE),
  };
}

/**
 * The syscall event of the SECCOMP record body `line[s, e)`: read by one regex when the body is laid
 * out as the kernel writes it (`SECCOMP_BODY`), else tokenized and interpreted by `seccompEvent`. Both
 * give the same event (tests compare them on fixtures and generated records).
 */
export function seccompAt(
  line: string,
  source: EventSource,
  ts: number | null,
  auditId: string | null,
  s: number,
  e: number,
): SyscallEvent | DropReason {
  SECCOMP_BODY.lastIndex = s;
  const m = SECCOMP_BODY.exec(line);
  if (m !== null && m.index + m[0].length === e) return fromMatch(m, 1, source, ts, auditId);
  const h: Header = {
    source,
    type: "SECCOMP",
    typeNr: 1326,
    ts,
    auditId,
    serial: -1,
    bodyStart: s,
    bodyEnd: e,
  };
  return seccompEvent(h, tokenize(line, s, e));
}

/** The time of the record `seccompRecord` last read (also when it was dropped). */
export const record = { ts: 0 };

/**
 * A whole auditd-form SECCOMP line in the kernel's layout (`SECCOMP_RECORD`) → its event (or why it
 * is dropped); undefined for any other line, which then takes the header scan.
 */
export function seccompRecord(line: string): SyscallEvent | DropReason | undefined {
  const m = SECCOMP_RECORD.exec(line);
  if (m === null) return undefined;
  // `idTimeAt(id)`: the regex took an id of the plain shape, whose time is seconds * 1000 + ms; read
  // from their own captures (short flat strings), not char by char from the id (a slice of the line).
  const ts = digitsValue(m[2] ?? "") * 1000 + digitsValue(m[3] ?? "");
  record.ts = ts;
  return fromMatch(m, 4, "auditd", ts, m[1] ?? "");
}
