#!/usr/bin/env node
// Generates packages/core/src/syscalls/tables.generated.ts from libseccomp (never a hand-typed list).
//
//   node scripts/gen-syscall-tables.mjs           write the file
//   node scripts/gen-syscall-tables.mjs --check   exit 1 if the committed file is out of date
//
// Needs a C compiler (cc/gcc, or $CC) and libseccomp-dev + linux-libc-dev headers. A tiny C program is compiled
// against libseccomp and, per arch:
//   - walks every syscall number in the ranges below with seccomp_syscall_resolve_num_arch() (fast: one process
//     instead of one scmp_sys_resolver spawn per number);
//   - resolves every syscall name libseccomp's headers know (the __SNR_* / __PNR_* macros of seccomp-syscalls.h,
//     read through the preprocessor) with seccomp_syscall_resolve_name_arch(), to cross-check the walk: every
//     name that resolves to a real (non-negative) number must have been found by the walk, with the same name.
// (Exception: on x86/ppc/s390 socket and SysV IPC names resolve to libseccomp's multiplexing pseudo-numbers.)
// Negative numbers (libseccomp's pseudo-syscalls for names absent on an arch) are never included.
// AUDIT_ARCH_* codes come from <linux/audit.h> via the preprocessor; SCMP_ARCH_* names are compiled as
// seccomp.h macros, so a misspelled one fails the build.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "packages/core/src/syscalls/tables.generated.ts");
const COMMAND = "node scripts/gen-syscall-tables.mjs";

const X32_SYSCALL_BIT = 0x40000000;

/** Our arch name → libseccomp arch name, SCMP_ARCH_* macro, AUDIT_ARCH_* macro, bit the kernel ORs into numbers. */
const ARCHES = [
  { name: "x86_64", seccomp: "x86_64", scmp: "SCMP_ARCH_X86_64", audit: "AUDIT_ARCH_X86_64", nrBit: 0 },
  { name: "x86", seccomp: "x86", scmp: "SCMP_ARCH_X86", audit: "AUDIT_ARCH_I386", nrBit: 0 },
  // x32 shares AUDIT_ARCH_X86_64; the kernel reports its syscall numbers with __X32_SYSCALL_BIT set.
  { name: "x32", seccomp: "x32", scmp: "SCMP_ARCH_X32", audit: "AUDIT_ARCH_X86_64", nrBit: X32_SYSCALL_BIT },
  { name: "aarch64", seccomp: "aarch64", scmp: "SCMP_ARCH_AARCH64", audit: "AUDIT_ARCH_AARCH64", nrBit: 0 },
  { name: "arm", seccomp: "arm", scmp: "SCMP_ARCH_ARM", audit: "AUDIT_ARCH_ARM", nrBit: 0 },
  { name: "ppc64le", seccomp: "ppc64le", scmp: "SCMP_ARCH_PPC64LE", audit: "AUDIT_ARCH_PPC64LE", nrBit: 0 },
  { name: "ppc64", seccomp: "ppc64", scmp: "SCMP_ARCH_PPC64", audit: "AUDIT_ARCH_PPC64", nrBit: 0 },
  { name: "s390x", seccomp: "s390x", scmp: "SCMP_ARCH_S390X", audit: "AUDIT_ARCH_S390X", nrBit: 0 },
  { name: "s390", seccomp: "s390", scmp: "SCMP_ARCH_S390", audit: "AUDIT_ARCH_S390", nrBit: 0 },
  { name: "riscv64", seccomp: "riscv64", scmp: "SCMP_ARCH_RISCV64", audit: "AUDIT_ARCH_RISCV64", nrBit: 0 },
];

/** Number ranges walked on every arch (before nrBit is ORed in): ordinary syscalls, and ARM private 0xf0000+. */
const RANGES = [
  [0, 0x10000],
  [0xf0000, 0x100000],
];

/** A gap of at least this many unused numbers starts a new segment in the output instead of "-" fillers. */
const SEGMENT_GAP = 16;
const NAMES_PER_LINE = 10;

const CC = process.env.CC || "cc";

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts });
}

function dpkgVersion(pkg) {
  try {
    // Default output: "<package>[:arch]\t<version>".
    const out = run("dpkg-query", ["-W", pkg], { stdio: ["ignore", "pipe", "ignore"] });
    return out.trim().split("\t")[1] || undefined;
  } catch {
    return undefined;
  }
}

/** All syscall names libseccomp's public headers define (__SNR_x and __PNR_x macros). */
function headerSyscallNames(dir) {
  const src = path.join(dir, "names.c");
  fs.writeFileSync(src, "#include <seccomp.h>\n");
  const macros = run(CC, ["-E", "-dM", src]);
  const names = new Set();
  for (const m of macros.matchAll(/^#define __[SP]NR_([A-Za-z0-9_]+)\s/gm)) names.add(m[1]);
  if (names.size < 300)
    throw new Error(`only ${names.size} __SNR_/__PNR_ names found in seccomp.h — wrong header?`);
  return [...names].sort();
}

function cProgram(names) {
  const lines = [
    "#include <seccomp.h>",
    "#include <linux/audit.h>",
    "#include <stdio.h>",
    "#include <stdlib.h>",
    "#include <stdint.h>",
    `static const char *const names[] = {${names.map((n) => JSON.stringify(n)).join(",")}};`,
    "static const struct { const char *ours, *seccomp, *scmp_macro; uint32_t scmp, audit, bit; } arches[] = {",
    ...ARCHES.map(
      (a) => `  {"${a.name}", "${a.seccomp}", "${a.scmp}", ${a.scmp}, ${a.audit}, ${a.nrBit >>> 0}u},`,
    ),
    "};",
    `static const uint32_t ranges[][2] = {${RANGES.map(([lo, hi]) => `{${lo}u, ${hi}u}`).join(",")}};`,
    "int main(void) {",
    "  const struct scmp_version *v = seccomp_version();",
    '  printf("version %u.%u.%u %u.%u.%u\\n", v->major, v->minor, v->micro, SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO);',
    "  for (size_t a = 0; a < sizeof arches / sizeof arches[0]; a++) {",
    "    uint32_t token = seccomp_arch_resolve_name(arches[a].seccomp);",
    '    if (token != arches[a].scmp) { fprintf(stderr, "%s: seccomp_arch_resolve_name(%s)=%x != %s\\n", arches[a].ours, arches[a].seccomp, token, arches[a].scmp_macro); return 2; }',
    '    printf("arch %s %x\\n", arches[a].ours, arches[a].audit);',
    "    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)",
    "      for (uint32_t i = ranges[r][0]; i < ranges[r][1]; i++) {",
    "        int nr = (int)(i | arches[a].bit);",
    "        char *s = seccomp_syscall_resolve_num_arch(token, nr);",
    '        if (s) { printf("num %s %d %s\\n", arches[a].ours, nr, s); free(s); }',
    "      }",
    "    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)",
    '      printf("name %s %s %d\\n", arches[a].ours, names[n], seccomp_syscall_resolve_name_arch(token, names[n]));',
    "  }",
    "  return 0;",
    "}",
  ];
  return `${lines.join("\n")}\n`;
}

function collect() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-syscall-tables-"));
  try {
    const names = headerSyscallNames(dir);
    const src = path.join(dir, "resolve.c");
    const bin = path.join(dir, "resolve");
    fs.writeFileSync(src, cProgram(names));
    run(CC, ["-O1", "-Wall", "-Werror", "-o", bin, src, "-lseccomp"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    return run(bin, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function parse(output) {
  let version;
  const audit = new Map();
  /** @type {Map<string, Map<number, string>>} */
  const byNum = new Map(ARCHES.map((a) => [a.name, new Map()]));
  /** @type {Map<string, Map<string, number>>} */
  const byName = new Map(ARCHES.map((a) => [a.name, new Map()]));
  for (const line of output.split("\n")) {
    if (line === "") continue;
    const [kind, a, b, c] = line.split(" ");
    if (kind === "version") {
      if (a !== b) throw new Error(`libseccomp runtime ${a} != headers ${b}`);
      version = a;
    } else if (kind === "arch") audit.set(a, b);
    else if (kind === "num") byNum.get(a)?.set(Number(b), c);
    else if (kind === "name") byName.get(a)?.set(b, Number(c));
    else throw new Error(`unexpected line from resolver: ${line}`);
  }
  if (!version) throw new Error("no libseccomp version reported");

  const problems = [];
  const tables = new Map();
  for (const { name: arch } of ARCHES) {
    const nums = byNum.get(arch) ?? new Map();
    const named = byName.get(arch) ?? new Map();
    const seen = new Set();
    for (const [nr, name] of nums) {
      if (seen.has(name)) problems.push(`${arch}: ${name} appears at more than one number`);
      seen.add(name);
      if (!/^[a-z0-9_]+$/.test(name))
        problems.push(`${arch}: odd syscall name ${JSON.stringify(name)} (${nr})`);
      const back = named.get(name);
      // On socketcall/ipc-multiplexing arches (x86, ppc, s390) libseccomp resolves the socket and SysV IPC names to
      // their pseudo-numbers (-101…-120, -201…-224) so filters cover both the multiplexer and the direct syscall;
      // the direct number (what the kernel reports) is still the one the number walk finds.
      const multiplexed = back !== undefined && back <= -101 && back >= -299;
      if (back !== nr && !multiplexed)
        problems.push(`${arch}: ${nr} → ${name}, but ${name} → ${back ?? "(not in headers)"}`);
    }
    for (const [name, nr] of named) {
      if (nr < 0) continue; // pseudo-syscall: absent on this arch
      const fwd = nums.get(nr);
      if (fwd !== name)
        problems.push(`${arch}: ${name} → ${nr}, but ${nr} → ${fwd ?? "(outside the walked ranges)"}`);
    }
    if (nums.size < 250) problems.push(`${arch}: only ${nums.size} syscalls resolved`);
    tables.set(
      arch,
      [...nums].sort(([x], [y]) => x - y),
    );
  }
  if (problems.length > 0) throw new Error(`libseccomp data is inconsistent:\n  ${problems.join("\n  ")}`);
  return { version, audit, tables };
}

/** [[firstNr, ["name name - name …" lines of NAMES_PER_LINE entries]], …] with "-" for unused numbers. */
function segments(entries) {
  const segs = [];
  let cur;
  let next = Number.NaN;
  for (const [nr, name] of entries) {
    if (cur === undefined || nr - next >= SEGMENT_GAP) {
      cur = { base: nr, names: [] };
      segs.push(cur);
    } else {
      for (let k = next; k < nr; k++) cur.names.push("-");
    }
    cur.names.push(name);
    next = nr + 1;
  }
  return segs;
}

/** x32 numbers as `0x40000000 + n`, ARM private ones in hex, everything else in decimal. */
function numberLiteral(n) {
  if (n >= X32_SYSCALL_BIT) return `0x${X32_SYSCALL_BIT.toString(16)} + ${n - X32_SYSCALL_BIT}`;
  return n >= 0x10000 ? `0x${n.toString(16)}` : String(n);
}

function render({ version, audit, tables }) {
  const libseccompPkg = dpkgVersion("libseccomp2");
  const libcDevPkg = dpkgVersion("linux-libc-dev");
  const out = [];
  out.push(
    "// GENERATED FILE — DO NOT EDIT. Regenerate with:",
    `//   ${COMMAND}`,
    `// Syscall tables from libseccomp ${version}${libseccompPkg ? ` (Debian libseccomp2 ${libseccompPkg})` : ""}:`,
    "// seccomp_syscall_resolve_num_arch() over every number, cross-checked with seccomp_syscall_resolve_name_arch().",
    `// Audit arch codes from AUDIT_ARCH_* in <linux/audit.h>${libcDevPkg ? ` (linux-libc-dev ${libcDevPkg})` : ""}.`,
    'import type { ArchName } from "./arch.js";',
    "",
    `export const LIBSECCOMP_VERSION = ${JSON.stringify(version)};`,
    "",
    "/** AUDIT_ARCH_* per arch in lowercase hex as audit prints it (`%x`: no leading zeros). x32 shares x86_64's. */",
    "export const AUDIT_ARCH_CODES: Readonly<Record<ArchName, string>> = {",
  );
  for (const a of ARCHES) out.push(`  ${a.name}: ${JSON.stringify(audit.get(a.name))}, // ${a.audit}`);
  out.push(
    "};",
    "",
    "/**",
    " * Per arch: segments [firstNumber, lines]. Each line holds space-separated names of consecutive syscall numbers",
    ` * (${NAMES_PER_LINE} per line, the trailing comment is the line's first number); "-" marks a number with no syscall.`,
    " * Numbers are as the kernel reports them (x32: with __X32_SYSCALL_BIT 0x40000000 set).",
    " */",
    "export const SYSCALL_TABLES: Readonly<Record<ArchName, readonly (readonly [number, readonly string[]])[]>> = {",
  );
  for (const a of ARCHES) {
    const entries = tables.get(a.name);
    out.push(`  // ${a.name}: ${entries.length} syscalls`);
    out.push(`  ${a.name}: [`);
    for (const seg of segments(entries)) {
      out.push(`    [${numberLiteral(seg.base)}, [`);
      for (let i = 0; i < seg.names.length; i += NAMES_PER_LINE) {
        const line = seg.names.slice(i, i + NAMES_PER_LINE).join(" ");
        out.push(`      ${JSON.stringify(line)}, // ${numberLiteral(seg.base + i)}`);
      }
      out.push("    ]],");
    }
    out.push("  ],");
  }
  out.push("};", "");
  return out.join("\n");
}

function main() {
  const check = process.argv.includes("--check");
  const data = parse(collect());
  const text = render(data);
  const counts = ARCHES.map((a) => `${a.name}=${data.tables.get(a.name).length}`).join(" ");
  if (check) {
    const current = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
    if (current !== text) {
      console.error(`${path.relative(ROOT, OUT)} is out of date; run: ${COMMAND}`);
      process.exit(1);
    }
    console.log(`${path.relative(ROOT, OUT)} is up to date (libseccomp ${data.version}; ${counts})`);
    return;
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, text);
  console.log(`wrote ${path.relative(ROOT, OUT)} (libseccomp ${data.version}; ${counts})`);
}

main();
