import { fixtureLines } from "@secprof/testkit";
import { describe, expect, it } from "vitest";
import type { RawEvent } from "../schemas/events.js";
import { AuditParser, type ParsedEvent, type ParserOptions } from "./parser.js";

function parseFile(rel: string, opts: ParserOptions = {}) {
  const p = new AuditParser(opts);
  const out: ParsedEvent[] = [];
  for (const [i, l] of fixtureLines(rel).entries()) p.push(l, i + 1, out);
  p.flush(out);
  return { events: out.map((e) => e.event), stats: p.stats };
}

const syscalls = (events: RawEvent[]) =>
  events.flatMap((e) => (e.kind === "syscall" ? [`${e.pid} ${e.arch} ${e.name} ${e.exe}`] : []));

describe("captured records (runc, SCMP_ACT_LOG, auditd ENRICHED)", () => {
  it("turns every SECCOMP record into a syscall event, named with its own arch", () => {
    const lines = fixtureLines("runc-seccomp-log.log");
    const { events, stats } = parseFile("runc-seccomp-log.log");
    expect(events.length).toBe(lines.filter((l) => l.startsWith("type=SECCOMP")).length);
    expect(stats.dropped.malformed + stats.dropped.unknown_arch + stats.dropped.unknown_syscall).toBe(0);
    expect(events.every((e) => e.kind === "syscall" && e.action === "log" && e.auditId !== null)).toBe(true);
    expect(new Set(syscalls(events).map((s) => s.split(" ")[2]))).toContain("execve");
  });

  it("names i386 compat syscalls by the i386 table (arch=40000003)", () => {
    const { events } = parseFile("compat-i386-seccomp-log.log");
    const i386 = events.filter((e) => e.kind === "syscall" && e.arch === "x86");
    expect(i386.length).toBeGreaterThan(0);
    // i386 45 is brk (x86_64 45 would be recvfrom).
    expect(i386.map((e) => e.kind === "syscall" && e.name)).toContain("brk");
    expect(i386.map((e) => e.kind === "syscall" && e.name)).not.toContain("recvfrom");
  });

  it("names x32-numbered syscalls by the x32 table (bit 30 of the number)", () => {
    const { events } = parseFile("x32-syscall-bit-seccomp-log.log");
    const x32 = events.flatMap((e) => (e.kind === "syscall" && e.arch === "x32" ? [e.name] : []));
    expect(x32).toEqual(expect.arrayContaining(["getpid", "write"]));
  });

  it("agrees with itself whether or not the enriched fields were stripped of their 0x1d", () => {
    expect(syscalls(parseFile("derived/enriched-separator-stripped.log").events)).toEqual(
      syscalls(parseFile("runc-seccomp-log.log").events),
    );
  });

  it("reads the same events from dmesg, dmesg -r, dmesg --time-format=iso and /dev/kmsg", () => {
    const dmesg = syscalls(parseFile("kmsg-dmesg.log").events);
    expect(dmesg.length).toBeGreaterThan(0);
    for (const f of [
      "kmsg-dmesg-raw.log",
      "kmsg-dmesg-iso.log",
      "kmsg-devkmsg.log",
      "derived/journald-short-kernel.log",
    ]) {
      expect(syscalls(parseFile(f).events), f).toEqual(dmesg);
    }
  });

  it("SECCOMP records interleaved with rule-triggered SYSCALL/PATH/CWD events stay separate", () => {
    const { events, stats } = parseFile("seccomp-with-syscall-rule.log");
    expect(events.every((e) => e.kind === "syscall")).toBe(true);
    expect(events.length).toBe(
      fixtureLines("seccomp-with-syscall-rule.log").filter((l) => l.startsWith("type=SECCOMP")).length,
    );
    expect(stats.incomplete).toBe(0);
  });

  it("the fast path gives the same syscall events as the full parser on every captured file", () => {
    for (const f of [
      "runc-seccomp-log.log",
      "compat-i386-seccomp-log.log",
      "x32-syscall-bit-seccomp-log.log",
      "kmsg-dmesg.log",
    ]) {
      const full = parseFile(f).events.filter((e) => e.kind === "syscall");
      expect(parseFile(f, { kinds: ["syscall"] }).events, f).toEqual(full);
    }
  });
});

describe("forged and user-space records", () => {
  it("takes nothing from user messages that imitate SECCOMP records (auditd log)", () => {
    const { events, stats } = parseFile("user-forged.log");
    expect(events.filter((e) => e.kind === "syscall")).toEqual([]);
    expect(stats.dropped.untrusted_source).toBeGreaterThanOrEqual(3);
    // The one USER_AVC is reported, marked as coming from user space.
    expect(events.filter((e) => e.kind === "avc").every((e) => e.kind === "avc" && e.userSpace)).toBe(true);
  });

  it("drops PAM's USER_* records as untrusted", () => {
    const { events, stats } = parseFile("pam-user-records.log");
    expect(events).toEqual([]);
    expect(stats.dropped.untrusted_source).toBe(4);
  });

  it("journald's audit transport: forged USER text does not become a syscall event", () => {
    const { events } = parseFile("derived/journald-short-audit.log");
    expect(events.some((e) => e.comm === "secprof-forged")).toBe(false);
  });
});

describe("documented public SELinux and AppArmor formats", () => {
  it("reads SELinux AVCs in auditd, dmesg, syslog and journald forms", () => {
    for (const f of [
      "selinux-auditd.log",
      "selinux-dmesg.log",
      "selinux-syslog.log",
      "selinux-journald.log",
    ]) {
      const { events, stats } = parseFile(`public/${f}`);
      expect(stats.dropped.malformed, f).toBe(0);
      const avcs = events.filter((e) => e.kind === "avc");
      expect(avcs.length, f).toBeGreaterThan(0);
      for (const a of avcs) {
        if (a.kind !== "avc") continue;
        expect(a.perms.length).toBeGreaterThan(0);
        expect(a.perms).toEqual([...a.perms].sort());
        expect(a.tcontext.split(":").length).toBeGreaterThanOrEqual(3);
      }
    }
  });

  it("reads AppArmor records, and drops D-Bus's own USER_AVC mediation as untrusted", () => {
    for (const f of [
      "apparmor-auditd.log",
      "apparmor-dmesg.log",
      "apparmor-syslog.log",
      "apparmor-journald.log",
    ]) {
      const { events, stats } = parseFile(`public/${f}`);
      expect(stats.dropped.malformed, f).toBe(0);
      expect(stats.dropped.untrusted_source, f).toBe(1);
      expect(events.length, f).toBeGreaterThan(0);
      expect(events.every((e) => e.kind === "apparmor" && e.operation.length > 0)).toBe(true);
    }
    const { events } = parseFile("public/apparmor-auditd.log");
    expect(events.some((e) => e.kind === "apparmor" && e.apparmor === "ALLOWED")).toBe(true);
    expect(events.some((e) => e.kind === "apparmor" && e.capname !== null)).toBe(true);
  });
});
