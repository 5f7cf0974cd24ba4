import { AUDIT_ARCH_CODES } from "./tables.generated.js";

/** Architectures secprof knows syscall tables for. */
export type ArchName =
  | "x86_64"
  | "x86"
  | "x32"
  | "aarch64"
  | "arm"
  | "ppc64le"
  | "ppc64"
  | "s390x"
  | "s390"
  | "riscv64";

/** libseccomp / OCI `linux.seccomp.architectures` name, e.g. `SCMP_ARCH_X86_64`. */
export type ScmpArch = `SCMP_ARCH_${string}`;

export interface ArchInfo {
  name: ArchName;
  /** AUDIT_ARCH_* as audit prints it in `arch=`: lowercase hex, no leading zeros (s390 is "16"). */
  auditCode: string;
  scmpArch: ScmpArch;
}

export const ARCH_NAMES: readonly ArchName[] = Object.freeze([
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
] as const);

/** The kernel ORs this into x32 syscall numbers (__X32_SYSCALL_BIT); x32 shares AUDIT_ARCH_X86_64. */
export const X32_SYSCALL_BIT = 0x40000000;

// The generator compiles these names as libseccomp macros, so they are checked against seccomp.h.
const SCMP_ARCH: Readonly<Record<ArchName, ScmpArch>> = {
  x86_64: "SCMP_ARCH_X86_64",
  x86: "SCMP_ARCH_X86",
  x32: "SCMP_ARCH_X32",
  aarch64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
  ppc64le: "SCMP_ARCH_PPC64LE",
  ppc64: "SCMP_ARCH_PPC64",
  s390x: "SCMP_ARCH_S390X",
  s390: "SCMP_ARCH_S390",
  riscv64: "SCMP_ARCH_RISCV64",
};

const INFO: ReadonlyMap<string, ArchInfo> = new Map(
  ARCH_NAMES.map((name) => [
    name,
    Object.freeze({ name, auditCode: AUDIT_ARCH_CODES[name], scmpArch: SCMP_ARCH[name] }),
  ]),
);

const BY_SCMP: ReadonlyMap<string, ArchName> = new Map(ARCH_NAMES.map((name) => [SCMP_ARCH[name], name]));

/** Numeric audit code → arch; x86_64 wins over x32, which shares its code. */
const BY_AUDIT: ReadonlyMap<number, ArchName> = (() => {
  const m = new Map<number, ArchName>();
  for (const name of ARCH_NAMES) {
    const code = Number.parseInt(AUDIT_ARCH_CODES[name], 16);
    if (!m.has(code)) m.set(code, name);
  }
  return m;
})();

const AUDIT_HEX = /^0*[0-9a-f]{1,8}$/i;

export function isArchName(s: string): s is ArchName {
  return INFO.has(s);
}

export function archInfo(name: ArchName): ArchInfo {
  const info = INFO.get(name);
  if (info === undefined) throw new TypeError(`unknown arch: ${String(name)}`);
  return info;
}

export function scmpArchOf(name: ArchName): ScmpArch {
  return archInfo(name).scmpArch;
}

export function archFromScmp(s: string): ArchName | undefined {
  return BY_SCMP.get(s);
}

/**
 * Audit `arch=` field (hex, any case, with or without leading zeros) + raw syscall number → arch
 * (x32 detected by bit 0x40000000).
 */
export function archFromAudit(archHex: string, nr: number): ArchName | undefined {
  if (!AUDIT_HEX.test(archHex)) return undefined;
  const arch = BY_AUDIT.get(Number.parseInt(archHex, 16));
  if (arch === "x86_64" && (nr & X32_SYSCALL_BIT) !== 0) return "x32";
  return arch;
}
