import type { AppArmorEvent, AvcEvent, SeccompRet, SyscallEvent } from "../schemas/events.js";
import { archFromAudit, syscallName } from "../syscalls/index.js";
import { decimal, type Fields, hexNumber, plain, tokenize, untrustedString } from "./fields.js";
import type { DropReason, Header } from "./line-form.js";

const RET_ACTIONS: ReadonlyMap<number, SeccompRet> = new Map([
  [0x80000000, "kill_process"],
  [0x00000000, "kill_thread"],
  [0x00030000, "trap"],
  [0x00050000, "errno"],
  [0x7fc00000, "user_notif"],
  [0x7ff00000, "trace"],
  [0x7ffc0000, "log"],
  [0x7fff0000, "allow"],
]);

/** `code=` of a SECCOMP record → the action (SECCOMP_RET_ACTION_FULL bits). */
export function seccompAction(code: number | null): SeccompRet | null {
  if (code === null) return null;
  return RET_ACTIONS.get((code & 0xffff0000) >>> 0) ?? null;
}

// The event builders spell the fields every event has out in one flat literal each (same order in all)
// rather than spreading a shared base object into them: the spread made the full parse 2.4× slower.

export function seccompEvent(h: Header, f: Fields): SyscallEvent | DropReason {
  const archRaw = f.get("arch");
  const nr = decimal(f.get("syscall"));
  if (archRaw === undefined || nr === null) return "malformed";
  const arch = archFromAudit(archRaw, nr);
  if (arch === undefined) return "unknown_arch";
  const name = syscallName(arch, nr);
  if (name === undefined) return "unknown_syscall";
  return {
    source: h.source,
    ts: h.ts,
    auditId: h.auditId,
    pid: decimal(f.get("pid")),
    comm: untrustedString(f.get("comm")),
    exe: untrustedString(f.get("exe")),
    ses: decimal(f.get("ses")),
    mntns: null,
    kind: "syscall",
    arch,
    nr,
    name,
    action: seccompAction(hexNumber(f.get("code"))),
  };
}

/**
 * SELinux AVC text: `avc:  denied  { read write } for  pid=… scontext=… tcontext=… tclass=…`.
 * The permission group is cut out first so that the rest tokenizes as plain fields.
 */
export function avcEvent(
  h: Header,
  line: string,
  start: number,
  end: number,
  userSpace: boolean,
): AvcEvent | DropReason {
  const open = line.indexOf("{", start);
  const close = open < 0 ? -1 : line.indexOf("}", open);
  if (open < 0 || close < 0 || close > end) return "malformed";
  const verdict = line.slice(start, open);
  const denied = verdict.includes("denied");
  if (!denied && !verdict.includes("granted")) return "malformed";
  const perms = line
    .slice(open + 1, close)
    .split(" ")
    .filter((p) => p.length > 0)
    .sort();
  const f = tokenize(line, close + 1, end);
  const tclass = plain(f.get("tclass"));
  const scontext = plain(f.get("scontext"));
  const tcontext = plain(f.get("tcontext"));
  if (perms.length === 0 || tclass === null || scontext === null || tcontext === null) return "malformed";
  const p = f.get("permissive");
  return {
    source: h.source,
    ts: h.ts,
    auditId: h.auditId,
    pid: decimal(f.get("pid")),
    comm: untrustedString(f.get("comm")),
    exe: untrustedString(f.get("exe")),
    ses: decimal(f.get("ses")),
    mntns: null,
    kind: "avc",
    denied,
    perms,
    tclass,
    scontext,
    tcontext,
    permissive: p === "1" ? true : p === "0" ? false : null,
    userSpace,
  };
}

/** `verdict`: what the record type says when the record has no `apparmor=` field (old kernels). */
export function apparmorEvent(h: Header, f: Fields, verdict?: string): AppArmorEvent | DropReason {
  const apparmor = plain(f.get("apparmor")) ?? verdict ?? null;
  const operation = plain(f.get("operation"));
  if (apparmor === null || operation === null) return "malformed";
  return {
    source: h.source,
    ts: h.ts,
    auditId: h.auditId,
    pid: decimal(f.get("pid")),
    comm: untrustedString(f.get("comm")),
    exe: untrustedString(f.get("exe")),
    ses: decimal(f.get("ses")),
    mntns: null,
    kind: "apparmor",
    apparmor,
    operation,
    profile: untrustedString(f.get("profile")),
    name: untrustedString(f.get("name")),
    requestedMask: plain(f.get("requested_mask")),
    deniedMask: plain(f.get("denied_mask")),
    capname: plain(f.get("capname")),
    family: plain(f.get("family")),
    sockType: plain(f.get("sock_type")),
    protocol: decimal(f.get("protocol")),
  };
}
