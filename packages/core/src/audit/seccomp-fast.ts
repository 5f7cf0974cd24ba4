import type { SyscallEvent } from "../schemas/events.js";
import { archFromAudit, syscallName } from "../syscalls/index.js";
import { decimal, hexNumber, untrustedString } from "./fields.js";
import { seccompAction } from "./interpret.js";
import type { DropReason, Header } from "./line-form.js";

/**
 * SECCOMP records without a full tokenize: each wanted field is found by ` key=`. Kernel
 * values never contain a space (strings with one are hex-encoded), so ` key=` can only start
 * a real field; the result equals the tokenizer's (a test checks this on every fixture).
 */
function field(line: string, key: string, from: number, end: number): string | undefined {
  const at = line.indexOf(key, from - 1);
  if (at < 0 || at >= end) return undefined;
  const v = at + key.length;
  if (line.charCodeAt(v) === 34) {
    const close = line.indexOf('"', v + 1);
    return close < 0 || close >= end ? line.slice(v, end) : line.slice(v, close + 1);
  }
  const sp = line.indexOf(" ", v);
  return line.slice(v, sp < 0 || sp > end ? end : sp);
}

export function seccompFast(line: string, h: Header): SyscallEvent | DropReason {
  const s = h.bodyStart;
  const e = h.bodyEnd;
  const archRaw = field(line, " arch=", s, e);
  const nr = decimal(field(line, " syscall=", s, e));
  if (archRaw === undefined || nr === null) return "malformed";
  const arch = archFromAudit(archRaw, nr);
  if (arch === undefined) return "unknown_arch";
  const name = syscallName(arch, nr);
  if (name === undefined) return "unknown_syscall";
  return {
    source: h.source,
    ts: h.ts,
    auditId: h.auditId,
    pid: decimal(field(line, " pid=", s, e)),
    comm: untrustedString(field(line, " comm=", s, e)),
    exe: untrustedString(field(line, " exe=", s, e)),
    ses: decimal(field(line, " ses=", s, e)),
    mntns: null,
    kind: "syscall",
    arch,
    nr,
    name,
    action: seccompAction(hexNumber(field(line, " code=", s, e))),
  };
}
