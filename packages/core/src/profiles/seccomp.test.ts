import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical.js";
import { ociSeccomp, seccompProvenance, seccompSpec } from "./seccomp.js";
import { SyscallSet } from "./syscall-set.js";

function set(entries: [Parameters<SyscallSet["add"]>[0], string][]): SyscallSet {
  const s = new SyscallSet();
  for (const [a, n] of entries) s.add(a, n);
  return s;
}

describe("seccomp rendering", () => {
  it("denies by default and lists exactly the recorded arches, one sorted allow rule", () => {
    const spec = seccompSpec({
      workload: set([
        ["x86_64", "write"],
        ["x86_64", "openat"],
        ["x86", "execve"],
        ["x86_64", "read"],
      ]),
    });
    expect(spec).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      syscalls: [{ names: ["execve", "openat", "read", "write"], action: "SCMP_ACT_ALLOW" }],
    });
  });

  it("adds no compat arch when none was seen", () => {
    expect(seccompSpec({ workload: set([["x86_64", "read"]]) }).architectures).toEqual(["SCMP_ARCH_X86_64"]);
  });

  it("is byte-identical for identical input in any order", () => {
    const a = set([
      ["x86_64", "read"],
      ["x86_64", "close"],
      ["aarch64", "openat"],
    ]);
    const b = set([
      ["aarch64", "openat"],
      ["x86_64", "close"],
      ["x86_64", "read"],
    ]);
    expect(canonicalJson(ociSeccomp(seccompSpec({ workload: a })))).toBe(
      canonicalJson(ociSeccomp(seccompSpec({ workload: b }))),
    );
  });

  it("unions the runtime's measured syscalls and says which came from where", () => {
    const workload = set([["x86_64", "read"]]);
    const runtime = set([
      ["x86_64", "read"],
      ["x86_64", "fstatfs"],
    ]);
    expect(seccompSpec({ workload, runtime }).syscalls?.[0]?.names).toEqual(["fstatfs", "read"]);
    expect(seccompProvenance({ workload, runtime })).toEqual({
      workload: ["read"],
      runtimeOnly: ["fstatfs"],
    });
  });
});
