import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BpfEngine,
  BpftraceSource,
  type BpftraceSourceOptions,
  resolveEngine,
} from "./bpftrace-source.js";
import type { BpfArch, BpfEvent, ExecEvent } from "./parse.js";
import { selfTest } from "./self-test.js";

/** Tools these tests drive besides bpftrace; unmet is a skip, or a failure under CI (as in testkit). */
function tools(...cmds: string[]): string | undefined {
  for (const cmd of cmds) {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    } catch {
      const why = `${cmd} not installed`;
      if (process.env.CI === "true") throw new Error(`CI=true but ${why}`);
      return why;
    }
  }
  return undefined;
}

const reason = missing("bpftrace") ?? tools("strace", "unshare");

/** Both engines run every test; the CO-RE one needs core/build.sh (scripts/setup runs it). */
function engineMissing(e: BpfEngine): string | undefined {
  if (e === "bpftrace" || resolveEngine({}) === "libbpf") return undefined;
  const why = "the CO-RE recorder is not built (packages/recorder/src/sources/bpf/core/build.sh)";
  if (process.env.CI === "true") throw new Error(`CI=true but ${why}`);
  return why;
}
/** The engine the tests of the current describe block run. */
let engine: BpfEngine = "auto";

const UNSHARE = ["unshare", "-m", "--propagation", "unchanged", "--"];
const X86_64 = { execve: 59, exit_group: 231 } as const;

function hostMntns(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/mnt"))?.[1]);
}

function run(argv: string[]): Promise<{ pid: number; ms: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const t0 = performance.now();
    const c = spawn(cmd ?? "false", args, { stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", (code) => resolve({ pid: c.pid ?? -1, ms: performance.now() - t0, code }));
  });
}

/** Everything a source emitted, indexed the way the assertions need it. */
class Recording {
  readonly events: BpfEvent[] = [];
  add = (e: BpfEvent) => {
    this.events.push(e);
  };
  execs(pid: number): ExecEvent[] {
    return this.events.filter((e): e is ExecEvent => e.type === "exec" && e.pid === pid);
  }
  /** Mount namespace the pid ended up in (its last exec). */
  nsOf(pid: number): number | undefined {
    return this.execs(pid).at(-1)?.mntns;
  }
  syscalls(mntns: number, arch: BpfArch = "x86_64"): Map<number, number> {
    const m = new Map<number, number>();
    for (const e of this.events) {
      if (e.type === "syscalls" && e.mntns === mntns && e.arch === arch)
        m.set(e.nr, (m.get(e.nr) ?? 0) + e.count);
    }
    return m;
  }
}

async function record(
  body: (rec: Recording) => Promise<void>,
  opts: BpftraceSourceOptions = {},
): Promise<{ rec: Recording; stats: Awaited<ReturnType<BpftraceSource["stop"]>> }> {
  const rec = new Recording();
  const src = new BpftraceSource({ intervalMs: 200, engine, ...opts });
  src.onEvent(rec.add);
  const started = await src.start();
  if (!started.ok) throw new Error(`${started.problem}\n${started.stderr}`);
  try {
    await body(rec);
  } finally {
    await src.stop();
  }
  return { rec, stats: src.stats };
}

let tmp = "";

/**
 * Syscall numbers strace sees for `unshare -m … -- argv` once the namespace exists: the leader's
 * calls after its unshare(CLONE_NEWNS) returns, and every call of its descendants.
 */
function straceInNewNs(argv: string[]): Set<number> {
  const out = join(tmp, `strace-${Date.now()}.txt`);
  execFileSync("strace", ["-f", "-qq", "-n", "-e", "trace=all", "-o", out, "--", ...UNSHARE, ...argv], {
    stdio: "ignore",
  });
  const lines = readFileSync(out, "utf8").split("\n");
  const set = new Set<number>();
  let leader: string | undefined;
  let inNs = false;
  for (const l of lines) {
    const m = /^(\d+)\s+\[\s*(\d+)\]\s+(\w+)\(/.exec(l);
    if (m === null) continue;
    const [, pid, nr, name] = m;
    leader ??= pid;
    if (pid === leader && !inNs) {
      if (name === "unshare") inNs = true;
      continue;
    }
    set.add(Number(nr));
  }
  return set;
}

describe.each(["libbpf", "bpftrace"] as const)("BpftraceSource on the real kernel (%s)", (e) => {
  const skip = reason ?? engineMissing(e);
  if (skip !== undefined) {
    it.skip(skip, () => {});
    return;
  }
  beforeAll(() => {
    engine = e;
    tmp = mkdtempSync(join(tmpdir(), "secprof-bpf-root-"));
  });
  afterAll(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });

  it("self-test attaches, sees /bin/true, detaches", async () => {
    const r = await selfTest({ source: { engine } });
    expect(r).toMatchObject({ ok: true });
    console.info(`self-test: ${r.ok ? r.ms.toFixed(0) : "-"} ms`, r.ok ? r.warnings : r);
  });

  it("maps a short-lived host command's pid to this mount namespace and records its execve", async () => {
    let ran = { pid: -1, ms: 0, code: null as number | null };
    const { rec, stats } = await record(async () => {
      ran = await run(["/bin/true"]);
    });
    expect(ran.code).toBe(0);
    // /bin/true lives about a millisecond; this bound only allows for spawn() on a loaded machine.
    expect(ran.ms, "spawn-to-exit of /bin/true").toBeLessThan(1000);
    const exec = rec.execs(ran.pid);
    const all = rec.events.flatMap((e) => (e.type === "exec" ? [`${e.pid}:${e.comm}`] : []));
    expect(exec, `pid ${ran.pid} among execs ${all.join(" ")}`).toMatchObject([
      { comm: "true", filename: "/bin/true", ppid: process.pid, mntns: hostMntns() },
    ]);
    const sc = rec.syscalls(hostMntns());
    expect(sc.has(X86_64.execve) && sc.has(X86_64.exit_group)).toBe(true);
    expect(stats.dropped).toEqual({ invalid_json: 0, schema: 0, unexpected: 0, bad_key: 0, bad_nr: 0 });
    expect(stats.kernelLost).toBe(0);
  });

  it.each([
    ["/bin/true", ["/bin/true"]],
    ["sh -c 'ls / | wc -l'", ["sh", "-c", "ls / | wc -l"]],
  ])("records exactly what strace sees of `%s` in its own mount namespace", async (_name, argv) => {
    let ran = { pid: -1, ms: 0, code: null as number | null };
    const { rec } = await record(async () => {
      ran = await run([...UNSHARE, ...argv]);
    });
    expect(ran.code).toBe(0);
    const execs = rec.execs(ran.pid);
    // unshare runs in the host namespace, then execs the command in the new one (same pid).
    expect(execs.length).toBe(2);
    expect(execs[0]?.mntns).toBe(hostMntns());
    const ns = rec.nsOf(ran.pid);
    expect(ns).toBeDefined();
    expect(ns).not.toBe(hostMntns());
    const recorded = new Set(rec.syscalls(ns ?? 0).keys());
    const expected = straceInNewNs(argv);
    const missed = [...expected].filter((nr) => !recorded.has(nr));
    const leaked = [...recorded].filter((nr) => !expected.has(nr));
    expect({ missed, leaked }).toEqual({ missed: [], leaked: [] });
    // Only this command lives in that namespace: no other ABI shows up there either.
    expect(rec.syscalls(ns ?? 0, "x86").size + rec.syscalls(ns ?? 0, "x32").size).toBe(0);
    console.info(`${_name}: ${ran.ms.toFixed(1)} ms, ${recorded.size} syscalls in mntns ${ns}`);
  });

  it("delivers every exec before a tick taken after it (the exec tracker's watermark)", async () => {
    let exited = 0n;
    const pids: number[] = [];
    const { rec } = await record(async (rec) => {
      for (let i = 0; i < 5; i++) pids.push((await run([...UNSHARE, "/bin/true"])).pid);
      exited = process.hrtime.bigint();
      const deadline = Date.now() + 10_000;
      while (!rec.events.some((e) => e.type === "tick" && BigInt(e.monoNs) > exited) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    });
    const firstAfter = rec.events.findIndex((e) => e.type === "tick" && BigInt(e.monoNs) > exited);
    expect(firstAfter, "a tick after the runs").toBeGreaterThan(0);
    const before = rec.events.slice(0, firstAfter).flatMap((e) => (e.type === "exec" ? [e.pid] : []));
    expect(
      pids.every((p) => before.includes(p)),
      `execs ${before.join(" ")} before the tick; runs ${pids.join(" ")}`,
    ).toBe(true);
  });

  it("keeps concurrent namespaces apart", async () => {
    const a: number[] = [];
    const { rec } = await record(async () => {
      const runs = await Promise.all([
        run([...UNSHARE, "sleep", "0.3"]),
        run([...UNSHARE, "sh", "-c", "ls / | wc -l >/dev/null"]),
      ]);
      a.push(...runs.map((r) => r.pid));
    });
    const [sleepNs, shNs] = a.map((pid) => rec.nsOf(pid));
    expect(sleepNs).toBeDefined();
    expect(shNs).toBeDefined();
    expect(sleepNs).not.toBe(shNs);
    const sleep = rec.syscalls(sleepNs ?? 0);
    const sh = rec.syscalls(shNs ?? 0);
    // clock_nanosleep (230) only in sleep's; pipe2 (293), clone (56) / wait4 (61) only in the shell's.
    expect(sleep.has(230)).toBe(true);
    expect(sh.has(230)).toBe(false);
    for (const nr of [293, 61]) {
      expect(sh.has(nr)).toBe(true);
      expect(sleep.has(nr)).toBe(false);
    }
  });

  it("stop() delivers the final snapshot (no periodic one in between)", async () => {
    let pid = -1;
    const rec = new Recording();
    const src = new BpftraceSource({ intervalMs: 60_000, engine });
    src.onEvent(rec.add);
    expect((await src.start()).ok).toBe(true);
    pid = (await run([...UNSHARE, "/bin/true"])).pid;
    const stats = await src.stop();
    expect(stats.finalSnapshot).toBe(true);
    const snaps = rec.events.filter((e) => e.type === "snapshot");
    expect(snaps).toMatchObject([{ final: true }]);
    const sc = rec.syscalls(rec.nsOf(pid) ?? 0);
    expect(sc.has(X86_64.execve) && sc.has(X86_64.exit_group)).toBe(true);
  });

  it("filters a namespace in the kernel (excludeMntns)", async () => {
    let pid = -1;
    const { rec } = await record(
      async () => {
        pid = (await run([...UNSHARE, "/bin/true"])).pid;
        await run(["/bin/true"]);
      },
      { excludeMntns: hostMntns() },
    );
    expect(rec.syscalls(hostMntns()).size).toBe(0);
    expect(rec.syscalls(rec.nsOf(pid) ?? 0).has(X86_64.exit_group)).toBe(true);
  });

  it("detects a full kernel map and says so", async () => {
    const warnings: string[] = [];
    const { stats } = await record(
      async () => {
        await run([...UNSHARE, "sh", "-c", "ls / | wc -l >/dev/null"]);
      },
      // The host namespace is excluded: on a busy machine its processes would fill the 32 keys
      // before the start-up marker's execve gets one, and bpftrace could never prove it attached.
      { mapKeysMax: 32, excludeMntns: hostMntns(), onWarning: (m) => warnings.push(m) },
    );
    expect(stats.mapKeys).toBe(32);
    expect(stats.mapFullSnapshots).toBeGreaterThan(0);
    expect(warnings.some((w) => /map is full/.test(w))).toBe(true);
  });

  const cc = tools("gcc");
  describe.skipIf(cc)("32-bit and x32 calls", () => {
    let c32 = "";
    let abi = "";
    let m32 = "";
    beforeAll(() => {
      c32 = join(tmp, "c32");
      abi = join(tmp, "abi");
      writeFileSync(
        `${c32}.c`,
        "#include <unistd.h>\n#include <sys/syscall.h>\nint main(void){for(int i=0;i<3;i++)syscall(SYS_getppid);return 0;}\n",
      );
      // From a 64-bit process: an x32 getppid (0x40000000|110; ENOSYS on kernels without x32)
      // and an int 0x80 getpid (i386 nr 20), which the kernel runs as a compat syscall.
      writeFileSync(
        `${abi}.c`,
        `int main(void){long r;
  __asm__ volatile("syscall":"=a"(r):"a"(0x40000000L|110L):"rcx","r11","memory");
  __asm__ volatile("int $0x80":"=a"(r):"a"(20L):"memory");
  return r>0?0:1;}\n`,
      );
      execFileSync("gcc", ["-O2", "-o", abi, `${abi}.c`]);
      try {
        execFileSync("gcc", ["-m32", "-O2", "-o", c32, `${c32}.c`], { stdio: "pipe" });
        execFileSync(c32);
      } catch (e) {
        m32 = `cannot build/run a 32-bit binary (apt-get install gcc-multilib): ${String(e)}`;
        if (process.env.CI === "true") throw new Error(m32);
      }
    });

    it("records i386 calls of a 32-bit binary as arch x86, with counts", async (ctx) => {
      if (m32 !== "") ctx.skip();
      let pid = -1;
      const { rec } = await record(
        async () => {
          pid = (await run([...UNSHARE, c32])).pid;
        },
        { counts: true },
      );
      const ns = rec.nsOf(pid) ?? 0;
      const x86 = rec.syscalls(ns, "x86");
      expect(x86.get(64)).toBe(3); // getppid, three times
      expect(x86.has(252)).toBe(true); // exit_group
      expect(rec.syscalls(ns).get(X86_64.execve)).toBe(1); // unshare's execve is 64-bit
    });

    it("tells x32 and int 0x80 calls of a 64-bit process apart", async () => {
      let pid = -1;
      const { rec } = await record(async () => {
        pid = (await run([...UNSHARE, abi])).pid;
      });
      const ns = rec.nsOf(pid) ?? 0;
      expect(rec.syscalls(ns, "x32").has(0x40000000 | 110)).toBe(true);
      expect([...rec.syscalls(ns, "x86").keys()]).toEqual([20]);
      expect(rec.syscalls(ns).has(X86_64.exit_group)).toBe(true);
    });
  });
});
