import { z } from "zod";
import { ARCH_NAMES, type ArchName } from "../syscalls/index.js";

/** Where a raw event was read. `kmsg` is a bare kernel printk line (dmesg, /dev/kmsg). */
export const EventSource = z.enum(["auditd", "syslog", "journal", "kmsg", "bpf"]);
export type EventSource = z.infer<typeof EventSource>;

export const ArchNameSchema = z.enum(ARCH_NAMES as unknown as [ArchName, ...ArchName[]]);

/** The seccomp action a SECCOMP audit record reports in `code=` (SECCOMP_RET_* without data). */
export const SeccompRet = z.enum([
  "kill_process",
  "kill_thread",
  "trap",
  "errno",
  "user_notif",
  "trace",
  "log",
  "allow",
]);
export type SeccompRet = z.infer<typeof SeccompRet>;

const base = {
  source: EventSource,
  /** Milliseconds since the epoch, from `audit(sec.ms:serial)`; null when the form has none. */
  ts: z.number().nonnegative().nullable(),
  /** `sec.ms:serial` as written in the record; null when the line form does not carry it. */
  auditId: z.string().nullable(),
  pid: z.number().int().nonnegative().nullable(),
  comm: z.string().nullable(),
  exe: z.string().nullable(),
  /** Audit session id; local recordings use it as an attribution key. */
  ses: z.number().int().nonnegative().nullable(),
  /** Mount namespace inode, where the source knows it (eBPF). */
  mntns: z.number().int().nonnegative().nullable(),
};

export const SyscallEvent = z.object({
  ...base,
  kind: z.literal("syscall"),
  arch: ArchNameSchema,
  nr: z.number().int().nonnegative(),
  name: z.string(),
  action: SeccompRet.nullable(),
});

export const AvcEvent = z.object({
  ...base,
  kind: z.literal("avc"),
  denied: z.boolean(),
  perms: z.array(z.string()),
  tclass: z.string(),
  scontext: z.string(),
  tcontext: z.string(),
  permissive: z.boolean().nullable(),
  /** USER_AVC: reported by a user-space object manager (dbus, systemd), not by the kernel. */
  userSpace: z.boolean(),
});

export const AppArmorEvent = z.object({
  ...base,
  kind: z.literal("apparmor"),
  apparmor: z.string(),
  operation: z.string(),
  profile: z.string().nullable(),
  name: z.string().nullable(),
  requestedMask: z.string().nullable(),
  deniedMask: z.string().nullable(),
  capname: z.string().nullable(),
  family: z.string().nullable(),
  sockType: z.string().nullable(),
  protocol: z.number().int().nullable(),
});

/** eBPF facts for AppArmor recording. */
export const FileEvent = z.object({
  ...base,
  kind: z.literal("file"),
  path: z.string(),
  read: z.boolean(),
  write: z.boolean(),
});
export const ExecEvent = z.object({ ...base, kind: z.literal("exec"), path: z.string() });
export const NetEvent = z.object({
  ...base,
  kind: z.literal("net"),
  family: z.enum(["inet", "inet6", "unix", "netlink", "other"]),
  protocol: z.enum(["tcp", "udp", "raw", "other"]),
});
export const CapEvent = z.object({ ...base, kind: z.literal("cap"), capability: z.string() });

export const RawEvent = z.discriminatedUnion("kind", [
  SyscallEvent,
  AvcEvent,
  AppArmorEvent,
  FileEvent,
  ExecEvent,
  NetEvent,
  CapEvent,
]);
export type RawEvent = z.infer<typeof RawEvent>;
export type SyscallEvent = z.infer<typeof SyscallEvent>;
export type AvcEvent = z.infer<typeof AvcEvent>;
export type AppArmorEvent = z.infer<typeof AppArmorEvent>;
export type EventBase = z.infer<z.ZodObject<typeof base>>;
