import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { describe, expect, it } from "vitest";
import { AppArmorBpfSource } from "./apparmor-source.js";
import { ownMntns } from "./bpftrace-source.js";

const skip = missing("root", "bpftrace");

describe.skipIf(skip)(`AppArmorBpfSource (${skip ?? "real bpftrace"})`, () => {
  it("keeps at most N paths per namespace in the kernel and reports the rest as truncated", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-aa-trunc-"));
    const host = ownMntns();
    const src = new AppArmorBpfSource({
      intervalMs: 200,
      maxPathsPerNamespace: 8,
      ...(host === undefined ? {} : { excludeMntns: host }),
    });
    const execs: { pid: number; nsId: number }[] = [];
    src.onExec((e) => {
      if (e.mntns !== host) execs.push({ pid: e.pid, nsId: e.nsId });
    });
    const started = await src.start();
    expect(started.ok, started.ok ? "" : `${started.problem}\n${started.stderr}`).toBe(true);
    // 40 distinct files written in a fresh mount namespace: far more than the 8 allowed.
    const r = spawnSync(
      "unshare",
      [
        "--mount",
        "--propagation",
        "unchanged",
        "--",
        "/bin/sh",
        "-c",
        `for i in $(seq 1 40); do : > ${dir}/f$i; done`,
      ],
      { stdio: "ignore" },
    );
    expect(r.status).toBe(0);
    const stats = await src.stop();
    expect(stats.finalSnapshot).toBe(true);
    const ns = execs.find((e) => e.pid === r.pid)?.nsId;
    expect(ns).toBeDefined();
    const facts = src.facts(ns ?? -1);
    const kept = facts.writePaths.length + facts.readPaths.length + facts.executables.length;
    // The per-namespace counter is not atomic across CPUs: a few keys more are possible.
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(8 + 2);
    expect(src.loss(ns ?? -1).truncated).toBeGreaterThanOrEqual(40 - 10);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
