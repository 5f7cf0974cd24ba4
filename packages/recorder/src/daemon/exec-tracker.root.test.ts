import { spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import { missing } from "@secprof/testkit";
import { describe, expect, it, vi } from "vitest";
import { BpftraceSource } from "../sources/bpf/bpftrace-source.js";
import type { ExecEvent } from "../sources/bpf/parse.js";
import { EXEC_TRACKER_PROGRAM, ExecTracker } from "./exec-tracker.js";

const reason = missing("bpftrace");
const own = Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/mnt"))?.[1]);

function run(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const c = spawn(cmd ?? "false", args, { stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", () => resolve(c.pid ?? -1));
  });
}

describe.skipIf(reason)(`exec-tracker.bt under BpftraceSource (${reason ?? "bpftrace"})`, () => {
  it("reports each exec with its namespace (host's skipped in the kernel), however short the process", async () => {
    const execs: ExecEvent[] = [];
    const tracker = new ExecTracker({ resolver: { learnMntns: () => false } });
    const source = new BpftraceSource({
      program: EXEC_TRACKER_PROGRAM,
      excludeMntns: own,
      intervalMs: 100,
    });
    source.onEvent((e) => {
      if (e.type === "exec") execs.push(e);
      if (e.type === "tick") tracker.onTick(e.monoNs);
    });
    const started = await source.start();
    expect(started, started.ok ? "" : `${started.problem}\n${started.stderr}`).toMatchObject({ ok: true });
    try {
      // unshare execs /bin/true in a new namespace: the process lives for about a millisecond.
      const pids: number[] = [];
      for (let i = 0; i < 5; i++)
        pids.push(await run(["unshare", "-m", "--propagation", "unchanged", "--", "/bin/true"]));
      await run(["/bin/true"]); // the host's namespace: filtered in the kernel
      // Ticks vouch for the exec lines: once one is past this moment, every exec above was read.
      const ran = Date.now();
      await vi.waitFor(() => expect(tracker.watermark() ?? 0).toBeGreaterThan(ran), { timeout: 10_000 });
      expect(tracker.watermark()).toBeLessThanOrEqual(Date.now());
      expect(execs.filter((e) => pids.includes(e.pid))).toHaveLength(pids.length);
      const stats = await source.stop();
      expect(stats.finalSnapshot).toBe(true);
      expect(Object.values(stats.dropped).reduce((a, b) => a + b, 0)).toBe(0);
      for (const pid of pids) {
        const mine = execs.filter((e) => e.pid === pid);
        // unshare's own exec (host namespace) is skipped; /bin/true's is reported.
        expect(mine.map((e) => e.filename)).toEqual(["/bin/true"]);
        expect(mine[0]?.mntns).not.toBe(own);
      }
      expect(execs.some((e) => e.mntns === own)).toBe(false);
    } finally {
      await source.stop();
    }
  }, 60_000);
});
