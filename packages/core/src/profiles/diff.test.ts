import { describe, expect, it } from "vitest";
import { API_VERSION } from "../schemas/kube.js";
import type { AppArmorAbstract, AppArmorProfile, SeccompSpec, SelinuxProfile } from "../schemas/profiles.js";
import { diffProfilePair, diffProfiles, globCovers, type ProfileChange } from "./diff.js";
import { seccompProfileCR } from "./seccomp.js";

const sp = (spec: SeccompSpec, name = "web") => seccompProfileCR({ name }, spec);
const base: SeccompSpec = {
  defaultAction: "SCMP_ACT_ERRNO",
  architectures: ["SCMP_ARCH_X86_64"],
  syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }],
};
const with_ = (patch: Partial<SeccompSpec>): SeccompSpec => ({ ...base, ...patch });
const pick = (cs: ProfileChange[]) =>
  cs.map(({ aspect, subject, op, widening, before, after }) => ({
    aspect,
    subject,
    op,
    widening,
    before,
    after,
  }));

describe("diff: seccomp", () => {
  it("sees no change between equivalent specs written differently", () => {
    const split = with_({
      syscalls: [
        { names: ["write"], action: "SCMP_ACT_ALLOW" },
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { names: ["mount"], action: "SCMP_ACT_ERRNO" },
      ],
    });
    expect(diffProfilePair(sp(base), sp(split))).toEqual([]);
  });

  it("reports an added syscall as widening and a removed one as not", () => {
    const more = with_({ syscalls: [{ names: ["openat", "read", "write"], action: "SCMP_ACT_ALLOW" }] });
    expect(pick(diffProfilePair(sp(base), sp(more)))).toEqual([
      {
        aspect: "syscall",
        subject: "openat",
        op: "added",
        widening: true,
        before: "default ERRNO",
        after: "ALLOW",
      },
    ]);
    expect(pick(diffProfilePair(sp(more), sp(base)))).toEqual([
      {
        aspect: "syscall",
        subject: "openat",
        op: "removed",
        widening: false,
        before: "ALLOW",
        after: "default ERRNO",
      },
    ]);
  });

  it("compares the effective action: a less restrictive default or action widens", () => {
    const logDefault = with_({ defaultAction: "SCMP_ACT_LOG" });
    const d = diffProfilePair(sp(base), sp(logDefault));
    expect(pick(d)).toEqual([
      {
        aspect: "default-action",
        subject: "defaultAction",
        op: "changed",
        widening: true,
        before: "ERRNO",
        after: "LOG",
      },
    ]);
    const errno = (errnoRet: number): SeccompSpec =>
      with_({
        syscalls: [...(base.syscalls ?? []), { names: ["ptrace"], action: "SCMP_ACT_ERRNO", errnoRet }],
      });
    const kill = with_({
      syscalls: [...(base.syscalls ?? []), { names: ["ptrace"], action: "SCMP_ACT_KILL" }],
    });
    // An errno change is a change, not a widening; KILL → ERRNO(1) is.
    expect(pick(diffProfilePair(sp(errno(1)), sp(errno(38))))).toEqual([
      {
        aspect: "syscall",
        subject: "ptrace",
        op: "changed",
        widening: false,
        before: "ERRNO(1)",
        after: "ERRNO(38)",
      },
    ]);
    expect(diffProfilePair(sp(kill), sp(errno(1)))[0]?.widening).toBe(true);
    expect(diffProfilePair(sp(errno(1)), sp(kill))[0]?.widening).toBe(false);
  });

  it("widens on a new architecture, SPEC_ALLOW, a base profile or a listener", () => {
    const d = diffProfilePair(
      sp(base),
      sp(
        with_({
          architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
          flags: ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"],
          baseProfileName: "runc-v1.1.0",
        }),
      ),
    );
    expect(d.map((c) => [c.aspect, c.subject, c.widening])).toEqual([
      ["architecture", "SCMP_ARCH_X86", true],
      ["flag", "SECCOMP_FILTER_FLAG_LOG", false],
      ["flag", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", true],
      ["base-profile", "baseProfileName", true],
    ]);
    const fewer = diffProfilePair(
      sp(with_({ architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"] })),
      sp(base),
    );
    expect(fewer.map((c) => [c.subject, c.op, c.widening])).toEqual([["SCMP_ARCH_X86", "removed", false]]);
  });

  it("compares argument conditions: dropping or broadening a condition on an ALLOW rule widens", () => {
    const cond = (...values: number[]): SeccompSpec =>
      with_({
        syscalls: values.map((value) => ({
          names: ["personality"],
          action: "SCMP_ACT_ALLOW" as const,
          args: [{ index: 0, value, op: "SCMP_CMP_EQ" as const }],
        })),
      });
    const always = with_({ syscalls: [{ names: ["personality"], action: "SCMP_ACT_ALLOW" }] });
    expect(pick(diffProfilePair(sp(cond(8)), sp(always)))).toEqual([
      {
        aspect: "syscall",
        subject: "personality",
        op: "changed",
        widening: true,
        before: "ALLOW if arg0 == 8",
        after: "ALLOW",
      },
    ]);
    expect(diffProfilePair(sp(always), sp(cond(8)))[0]?.widening).toBe(false);
    expect(diffProfilePair(sp(cond(8)), sp(cond(8, 0)))[0]).toMatchObject({
      widening: true,
      after: "ALLOW if (arg0 == 0) || (arg0 == 8)",
    });
    expect(diffProfilePair(sp(cond(8, 0)), sp(cond(8)))[0]?.widening).toBe(false);
  });
});

describe("diff: pairing and whole profiles", () => {
  it("pairs by kind and name: a profile only in NEW is all-added and widens, one only in OLD is all-removed", () => {
    const d = diffProfiles([sp(base, "a"), sp(base, "b")], [sp(base, "b"), sp(base, "c")]);
    expect(d.widened).toBe(true);
    const summary = d.changes.map((c) => [c.profile, c.aspect, c.subject, c.op, c.widening]);
    expect(summary).toEqual([
      ["a", "profile", "a", "removed", false],
      ["a", "default-action", "defaultAction", "removed", false],
      ["a", "architecture", "SCMP_ARCH_X86_64", "removed", false],
      ["a", "syscall", "read", "removed", false],
      ["a", "syscall", "write", "removed", false],
      ["c", "profile", "c", "added", true],
      ["c", "default-action", "defaultAction", "added", false],
      ["c", "architecture", "SCMP_ARCH_X86_64", "added", true],
      ["c", "syscall", "read", "added", true],
      ["c", "syscall", "write", "added", true],
    ]);
    expect(diffProfiles([sp(base, "a")], [sp(base, "a")])).toEqual({ widened: false, changes: [] });
  });

  it("refuses to compare different kinds and duplicate names on one side", () => {
    expect(() => diffProfilePair(sp(base), selinux({}))).toThrow(/SeccompProfile with a SelinuxProfile/);
    expect(() => diffProfiles([sp(base), sp(base)], [])).toThrow(
      /OLD holds SeccompProfile\/web more than once/,
    );
  });
});

function selinux(
  allow: SelinuxProfile["spec"]["allow"],
  patch: Partial<SelinuxProfile["spec"]> = {},
): SelinuxProfile {
  return {
    apiVersion: API_VERSION,
    kind: "SelinuxProfile",
    metadata: { name: "web" },
    spec: { inherit: [{ kind: "System", name: "container" }], mode: "Enforcing", allow, ...patch },
  };
}

describe("diff: SELinux", () => {
  it("reports permission additions per type and class as widening, removals not", () => {
    const old = selinux({ "@self": { tcp_socket: ["listen"] }, http_port_t: { tcp_socket: ["name_bind"] } });
    const neu = selinux({
      "@self": { tcp_socket: ["listen", "accept"] },
      http_port_t: {},
      var_log_t: { file: ["append", "open"] },
    });
    expect(pick(diffProfilePair(old, neu))).toEqual([
      {
        aspect: "permission",
        subject: "@self tcp_socket",
        op: "added",
        widening: true,
        before: undefined,
        after: "accept",
      },
      {
        aspect: "permission",
        subject: "http_port_t tcp_socket",
        op: "removed",
        widening: false,
        before: "name_bind",
        after: undefined,
      },
      {
        aspect: "permission",
        subject: "var_log_t file",
        op: "added",
        widening: true,
        before: undefined,
        after: "append open",
      },
    ]);
  });

  it("widens on Permissive mode and on a new inherit", () => {
    const d = diffProfilePair(
      selinux({}),
      selinux(
        {},
        {
          mode: "Permissive",
          inherit: [
            { kind: "System", name: "container" },
            { kind: "System", name: "net_container" },
          ],
        },
      ),
    );
    expect(d.map((c) => [c.aspect, c.subject, c.widening])).toEqual([
      ["mode", "mode", true],
      ["inherit", "System/net_container", true],
    ]);
  });
});

function aa(abstract: AppArmorAbstract, mode: "Enforce" | "Complain" = "Enforce"): AppArmorProfile {
  return {
    apiVersion: API_VERSION,
    kind: "AppArmorProfile",
    metadata: { name: "web" },
    spec: { mode, abstract },
  };
}

describe("diff: AppArmor", () => {
  const old = aa({
    executable: { allowedExecutables: ["/usr/sbin/nginx"], allowedLibraries: ["/usr/lib/**"] },
    filesystem: {
      readOnlyPaths: ["/etc/nginx/**", "/var/log/app/*.log"],
      readWritePaths: ["/var/cache/nginx/*"],
    },
    network: { allowedProtocols: { allowTcp: true } },
    capability: { allowedCapabilities: ["net_bind_service"] },
  });

  it("does not count a new path an old glob already covers with the same access", () => {
    const neu = aa({
      ...old.spec.abstract,
      executable: {
        allowedExecutables: ["/usr/sbin/nginx"],
        allowedLibraries: ["/usr/lib/**", "/usr/lib/x/libz.so"],
      },
      filesystem: {
        readOnlyPaths: ["/etc/nginx/**", "/var/log/app/*.log", "/etc/nginx/conf.d/a.conf"],
        readWritePaths: ["/var/cache/nginx/*"],
      },
    });
    const d = diffProfilePair(old, neu);
    expect(d.map((c) => [c.subject, c.op, c.after, c.widening])).toEqual([
      ["/etc/nginx/conf.d/a.conf", "added", "r", false],
      ["/usr/lib/x/libz.so", "added", "rm", false],
    ]);
    expect(d[0]?.note).toBe("already allowed in OLD: r by /etc/nginx/**");
  });

  it("widens on a glob that covers more, on write access to a read-only path, and on exec", () => {
    const neu = aa({
      ...old.spec.abstract,
      executable: { allowedExecutables: ["/usr/sbin/nginx", "/bin/sh"], allowedLibraries: ["/usr/lib/**"] },
      filesystem: {
        readOnlyPaths: ["/etc/nginx/**", "/var/log/**"],
        readWritePaths: ["/var/cache/nginx/*", "/etc/nginx/nginx.conf"],
      },
    });
    expect(pick(diffProfilePair(old, neu))).toEqual([
      { aspect: "path", subject: "/bin/sh", op: "added", widening: true, before: undefined, after: "rx" },
      {
        aspect: "path",
        subject: "/etc/nginx/nginx.conf",
        op: "added",
        widening: true,
        before: undefined,
        after: "rw",
      },
      { aspect: "path", subject: "/var/log/**", op: "added", widening: true, before: undefined, after: "r" },
      {
        aspect: "path",
        subject: "/var/log/app/*.log",
        op: "removed",
        widening: false,
        before: "r",
        after: undefined,
      },
    ]);
  });

  it("widens on capabilities, raw network and Complain mode", () => {
    const neu = aa(
      {
        ...old.spec.abstract,
        network: { allowRaw: true, allowedProtocols: { allowTcp: true, allowUdp: true } },
        capability: { allowedCapabilities: ["NET_BIND_SERVICE", "CAP_SYS_ADMIN"] },
      },
      "Complain",
    );
    expect(diffProfilePair(old, neu).map((c) => [c.aspect, c.subject, c.op, c.widening])).toEqual([
      ["mode", "mode", "changed", true],
      ["capability", "sys_admin", "added", true],
      ["network", "raw", "added", true],
      ["network", "udp", "added", true],
    ]);
  });
});

describe("globCovers", () => {
  it.each([
    ["/etc/**", "/etc/nginx/nginx.conf", true],
    ["/etc/**", "/etc/nginx/*.conf", true],
    ["/etc/**", "/etc/**", true],
    ["/etc/*", "/etc/nginx.conf", true],
    ["/etc/*", "/etc/*.conf", true],
    ["/etc/*", "/etc/nginx/nginx.conf", false],
    ["/etc/*", "/etc/**", false],
    ["/etc/*.conf", "/etc/*", false],
    ["/etc/?.conf", "/etc/a.conf", true],
    ["/etc/?.conf", "/etc/ab.conf", false],
    ["/etc/{a,b}.conf", "/etc/a.conf", true],
    ["/etc/*.conf", "/etc/{a,b}.conf", true],
    ["/etc/a.conf", "/etc/{a,b}.conf", false],
    ["/proc/@{pid}/*", "/proc/@{pid}/maps", true],
    ["/proc/*/maps", "/proc/@{pid}/maps", false],
    ["/usr/lib/x", "/usr/lib/x", true],
    ["/usr/lib/x", "/usr/lib/*", false],
  ])("%s covers %s: %s", (q, p, want) => {
    expect(globCovers(q, p)).toBe(want);
  });
});
