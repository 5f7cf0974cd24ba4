import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diagnose, FIX, parseMemlock, preflight, type SelfTestHost } from "./self-test.js";

const LIMITS = (soft: string, hard: string) =>
  `Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         ${soft}              ${hard}              bytes\n`;

function host(over: Partial<SelfTestHost> & { files?: Record<string, string> } = {}): SelfTestHost {
  const files: Record<string, string> = {
    "/usr/bin/bpftrace": "",
    "/sys/kernel/btf/vmlinux": "",
    "/sys/kernel/tracing/events": "",
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id": "21",
    "/sys/kernel/tracing/events/sched/sched_process_exec/id": "300",
    "/proc/self/limits": LIMITS("unlimited", "unlimited"),
    ...over.files,
  };
  return {
    platform: "linux",
    arch: "x64",
    uid: 0,
    kernelRelease: "6.18.44",
    env: { PATH: "/usr/local/bin:/usr/bin" },
    exists: (p) => p in files,
    isExecutable: (p) => p === "/usr/bin/bpftrace" && p in files,
    readText: (p) => files[p],
    ...over,
  };
}

function without(...paths: string[]): SelfTestHost {
  const h = host();
  return {
    ...h,
    exists: (p) => !paths.includes(p) && h.exists(p),
    isExecutable: (p) => !paths.includes(p) && h.isExecutable(p),
  };
}

describe("preflight", () => {
  it("passes on a capable machine and resolves bpftrace on PATH", () => {
    expect(preflight(host())).toEqual({ ok: true, bpftrace: "/usr/bin/bpftrace", warnings: [] });
  });

  it.each([
    ["not root", host({ uid: 1000 }), FIX.root],
    ["no bpftrace", without("/usr/bin/bpftrace"), FIX.bpftrace],
    ["no BTF", without("/sys/kernel/btf/vmlinux"), FIX.btf],
    ["tracefs not mounted", without("/sys/kernel/tracing/events"), FIX.tracefs],
    ["wrong arch", host({ arch: "arm64" }), FIX.arch],
  ])("%s → actionable fix", (_name, h, fix) => {
    expect(preflight(h)).toMatchObject({ ok: false, fix });
  });

  it("accepts tracefs under debugfs", () => {
    const h = host({
      files: {
        "/sys/kernel/debug/tracing/events": "",
        "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id": "",
        "/sys/kernel/debug/tracing/events/sched/sched_process_exec/id": "",
      },
    });
    const noTracing = { ...h, exists: (p: string) => !p.startsWith("/sys/kernel/tracing/") && h.exists(p) };
    expect(preflight(noTracing).ok).toBe(true);
  });

  it("fails on a missing syscall tracepoint", () => {
    expect(preflight(without("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id"))).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/raw_syscalls\/sys_enter/),
    });
  });

  it("memlock: fatal on old kernels when it cannot be raised, a warning on new ones", () => {
    const low = {
      "/proc/self/limits": LIMITS("8388608", "8388608"),
      "/proc/self/status": "CapEff:\t000001fffeffffff\n",
    };
    expect(preflight(host({ kernelRelease: "5.4.0-150-generic", files: low }))).toMatchObject({
      ok: false,
      fix: FIX.memlock,
    });
    const r = preflight(host({ files: low }));
    expect(r.ok && r.warnings.length).toBe(1);
    // With CAP_SYS_RESOURCE (bit 24) bpftrace raises the limit itself.
    const cap = { ...low, "/proc/self/status": "CapEff:\t000001ffffffffff\n" };
    expect(preflight(host({ kernelRelease: "5.4.0", files: cap }))).toMatchObject({ ok: true, warnings: [] });
  });
});

describe("parseMemlock", () => {
  it("reads /proc/self/limits", () => {
    expect(parseMemlock(LIMITS("8388608", "unlimited"))).toEqual({
      soft: 8388608,
      hard: Number.POSITIVE_INFINITY,
    });
    expect(parseMemlock("garbage")).toBeUndefined();
  });
});

describe("diagnose", () => {
  it("does not mistake bpftrace's harmless RLIMIT_MEMLOCK complaint on a new kernel for the cause", () => {
    // Real stderr of bpftrace 0.17 on this project's machine, where it runs fine.
    const real = readFileSync(new URL("./fixtures/bpftrace-0.17.stderr.txt", import.meta.url), "utf8");
    expect(diagnose(real, "6.18.44").fix).not.toBe(FIX.root);
    expect(diagnose(`${real}\nERROR: failed to create map: Operation not permitted`, "5.4.0").fix).toBe(
      FIX.memlock,
    );
  });

  it.each([
    ["ERROR: bpftrace currently only supports running as the root user.", FIX.root],
    ["ERROR: tracepoint not found: raw_syscalls:sys_enter", FIX.tracefs],
    ["stdin:1:1-10: ERROR: Unknown struct/union: 'struct task_struct'", FIX.btf],
    ["ERROR: Kernel lockdown is enabled and set to 'confidentiality'.", FIX.lockdown],
  ])("%s", (stderr, fix) => {
    expect(diagnose(stderr, "6.1.0").fix).toBe(fix);
  });

  it("explains a crash (bpftrace 0.17 segfaults on a BTF file that does not fit)", () => {
    expect(diagnose("", "6.1.0", { code: null, signal: "SIGSEGV" }).problem).toMatch(/crashed \(SIGSEGV\)/);
  });

  it("falls back to quoting the error", () => {
    const d = diagnose("something odd\nreally odd", "6.1.0");
    expect(d.problem).toMatch(/really odd/);
  });
});
