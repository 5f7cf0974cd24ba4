import { describe, expect, it } from "vitest";
import {
  ARCH_NAMES,
  type ArchName,
  archFromAudit,
  archFromScmp,
  archInfo,
  isKnownSyscall,
  scmpArchOf,
  syscallName,
  syscallNames,
  syscallNumber,
} from "./index.js";

const X32 = 0x40000000;

describe("arch table", () => {
  it("lists the ten supported arches", () => {
    expect(ARCH_NAMES).toEqual([
      "x86_64",
      "x86",
      "x32",
      "aarch64",
      "arm",
      "ppc64le",
      "ppc64",
      "s390x",
      "s390",
      "riscv64",
    ]);
  });

  it("has AUDIT_ARCH_* codes and SCMP_ARCH_* names", () => {
    const expected: Record<ArchName, [string, string]> = {
      x86_64: ["c000003e", "SCMP_ARCH_X86_64"],
      x86: ["40000003", "SCMP_ARCH_X86"],
      x32: ["c000003e", "SCMP_ARCH_X32"],
      aarch64: ["c00000b7", "SCMP_ARCH_AARCH64"],
      arm: ["40000028", "SCMP_ARCH_ARM"],
      ppc64le: ["c0000015", "SCMP_ARCH_PPC64LE"],
      ppc64: ["80000015", "SCMP_ARCH_PPC64"],
      s390x: ["80000016", "SCMP_ARCH_S390X"],
      s390: ["16", "SCMP_ARCH_S390"],
      riscv64: ["c00000f3", "SCMP_ARCH_RISCV64"],
    };
    for (const name of ARCH_NAMES) {
      const [auditCode, scmpArch] = expected[name];
      expect(archInfo(name)).toEqual({ name, auditCode, scmpArch });
      expect(scmpArchOf(name)).toBe(scmpArch);
      expect(archFromScmp(scmpArch)).toBe(name);
    }
  });

  it("rejects unknown SCMP names and arches", () => {
    expect(archFromScmp("SCMP_ARCH_MIPS")).toBeUndefined();
    expect(archFromScmp("scmp_arch_x86_64")).toBeUndefined();
    expect(() => archInfo("mips" as ArchName)).toThrow(TypeError);
    expect(syscallName("mips" as ArchName, 0)).toBeUndefined();
    expect(isKnownSyscall("mips" as ArchName, "read")).toBe(false);
  });
});

describe("archFromAudit", () => {
  it("maps audit codes in any case, with or without leading zeros", () => {
    expect(archFromAudit("c000003e", 59)).toBe("x86_64");
    expect(archFromAudit("C000003E", 59)).toBe("x86_64");
    expect(archFromAudit("40000003", 11)).toBe("x86");
    expect(archFromAudit("c00000b7", 221)).toBe("aarch64");
    expect(archFromAudit("40000028", 11)).toBe("arm");
    expect(archFromAudit("c0000015", 11)).toBe("ppc64le");
    expect(archFromAudit("80000015", 11)).toBe("ppc64");
    expect(archFromAudit("80000016", 11)).toBe("s390x");
    expect(archFromAudit("16", 11)).toBe("s390");
    expect(archFromAudit("00000016", 11)).toBe("s390");
    expect(archFromAudit("c00000f3", 221)).toBe("riscv64");
  });

  it("detects x32 by the 0x40000000 bit in the syscall number", () => {
    expect(archFromAudit("c000003e", X32 | 520)).toBe("x32");
    expect(archFromAudit("C000003E", X32)).toBe("x32");
    expect(archFromAudit("c000003e", 0)).toBe("x86_64");
    // the bit means nothing on other arches
    expect(archFromAudit("40000003", X32 | 11)).toBe("x86");
  });

  it("returns undefined for unknown or malformed codes", () => {
    expect(archFromAudit("c0000008", 1)).toBeUndefined(); // AUDIT_ARCH_MIPS64 is not supported
    expect(archFromAudit("40000000", 1)).toBeUndefined();
    expect(archFromAudit("", 1)).toBeUndefined();
    expect(archFromAudit("0", 1)).toBeUndefined();
    expect(archFromAudit("x86_64", 1)).toBeUndefined();
    expect(archFromAudit("0xc000003e", 1)).toBeUndefined();
    expect(archFromAudit("1c000003e", 1)).toBeUndefined();
    expect(archFromAudit(" c000003e", 1)).toBeUndefined();
  });
});

describe("syscall tables", () => {
  // Facts checked against `scmp_sys_resolver` (libseccomp 2.5.4).
  it.each<[ArchName, number, string]>([
    ["x86_64", 0, "read"],
    ["x86_64", 2, "open"],
    ["x86_64", 59, "execve"],
    ["x86_64", 158, "arch_prctl"],
    ["x86_64", 437, "openat2"],
    ["x86", 11, "execve"],
    ["x86", 102, "socketcall"],
    ["x86", 359, "socket"],
    ["x32", X32 | 0, "read"],
    ["x32", X32 | 520, "execve"],
    ["aarch64", 221, "execve"],
    ["arm", 11, "execve"],
    ["arm", 0xf0002, "cacheflush"],
    ["arm", 0xf0005, "set_tls"],
    ["ppc64le", 11, "execve"],
    ["ppc64", 11, "execve"],
    ["s390x", 11, "execve"],
    ["s390", 11, "execve"],
    ["riscv64", 221, "execve"],
    ["riscv64", 259, "riscv_flush_icache"],
  ])("%s %i = %s", (arch, nr, name) => {
    expect(syscallName(arch, nr)).toBe(name);
    expect(syscallNumber(arch, name)).toBe(nr);
    expect(isKnownSyscall(arch, name)).toBe(true);
  });

  it("knows what is absent", () => {
    expect(syscallName("x32", 59)).toBeUndefined(); // x32 numbers carry the bit
    expect(syscallName("x32", X32 | 59)).toBeUndefined(); // 64-bit-only execve; x32 uses 520
    expect(syscallName("s390", 0)).toBeUndefined();
    expect(syscallName("x86_64", -1)).toBeUndefined();
    expect(syscallName("x86_64", 1.5)).toBeUndefined();
    expect(isKnownSyscall("aarch64", "open")).toBe(false);
    expect(syscallNumber("aarch64", "open")).toBeUndefined();
    expect(isKnownSyscall("x86_64", "socketcall")).toBe(false);
    expect(isKnownSyscall("x86_64", "-")).toBe(false);
    expect(isKnownSyscall("x86_64", "")).toBe(false);
    expect(isKnownSyscall("x86_64", "constructor")).toBe(false);
  });

  it.each(ARCH_NAMES.map((a) => [a]))("%s: round-trips name ↔ number for every entry", (arch) => {
    const names = syscallNames(arch);
    expect(names.length).toBeGreaterThan(300);
    expect([...names].sort()).toEqual(names);
    expect(new Set(names).size).toBe(names.length);
    const numbers = new Set<number>();
    for (const name of names) {
      expect(name).toMatch(/^[a-z0-9_]+$/);
      const nr = syscallNumber(arch, name);
      expect(nr).toBeTypeOf("number");
      if (nr === undefined) continue;
      expect(nr).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(nr)).toBe(true);
      if (arch === "x32") expect(nr & X32).toBe(X32);
      expect(syscallName(arch, nr)).toBe(name);
      expect(isKnownSyscall(arch, name)).toBe(true);
      numbers.add(nr);
    }
    expect(numbers.size).toBe(names.length);
  });

  it("returns the same cached array each time", () => {
    expect(syscallNames("x86_64")).toBe(syscallNames("x86_64"));
    expect(Object.isFrozen(syscallNames("x86_64"))).toBe(true);
  });
});
