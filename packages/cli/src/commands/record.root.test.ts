import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { containerOptions } from "@secprof/recorder";
import { buildWorkloads, missing, runcRun, straceSyscalls, type Workload } from "@secprof/testkit";
import { describe, expect, it } from "vitest";

// Runs the built CLI as a user would (scripts/test builds before testing).
const CLI = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const skip = missing("root", "auditd", "runc", "bpftrace");
const RECORDERS = ["logs", "bpf"] as const;

interface Profile {
  defaultAction: string;
  architectures: string[];
  syscalls: { names: string[]; action: string }[];
}

function record(recorder: string, w: Workload, cwd: string, extra: string[] = []) {
  const out = mkdtempSync(path.join(tmpdir(), "secprof-out-"));
  const r = spawnSync(
    "node",
    [CLI, "record", "--recorder", recorder, "--name", "w", "--out", out, ...extra, "--", ...w.argv],
    {
      cwd,
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  const read = (f: string) => readFileSync(path.join(out, f), "utf8");
  return {
    ...r,
    out,
    profile: () => JSON.parse(read("w.seccomp.json")) as Profile,
    yaml: () => read("w.seccomp.yaml"),
  };
}

/** A syscall each workload cannot do without: removing it must make the workload fail. */
const NEEDS: Record<string, string> = {
  "shell pipeline": "pipe2",
  "multi-threaded": "clone3",
  "fork and exec": "wait4",
  "short-lived": "execve",
  "tcp pair on loopback": "connect",
};

describe.skipIf(skip)(`secprof record (${skip ?? "real auditd, runc, strace"})`, () => {
  const { dir, workloads } = buildWorkloads();

  describe.each(RECORDERS)("%s recorder", (recorder) => {
    it.each(workloads)(
      "records $name completely (strace is the oracle) and passes its output through",
      (w) => {
        // Scheduling can change which of futex & co a run needs; a recording must cover strace's
        // run of the same command in at least one of three tries, each pair run afresh.
        let lastMissing: string[] = [];
        for (let attempt = 0; attempt < 3; attempt++) {
          const r = record(recorder, w, dir);
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toBe(w.expect);
          const p = r.profile();
          expect(p.defaultAction).toBe("SCMP_ACT_ERRNO");
          expect(p.architectures).toEqual(["SCMP_ARCH_X86_64"]);
          const names = new Set(p.syscalls[0]?.names);
          lastMissing = [...straceSyscalls(w.argv, dir)].filter((n) => !names.has(n));
          if (lastMissing.length === 0) break;
        }
        expect(lastMissing).toEqual([]);
      },
    );

    it.each(workloads)(
      "--for runc: $name runs enforced under its profile, and fails without what it needs",
      async (w) => {
        const r = record(recorder, w, dir, ["--for", "runc"]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe(w.expect);
        const profile = r.profile();
        expect(r.yaml()).toContain("secprof.x-k8s.io/syscall-sources");
        const env = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
        const enforced = await runcRun(w.argv, containerOptions(dir, env, profile));
        expect(enforced.code, enforced.stderr).toBe(0);
        expect(enforced.stdout).toBe(w.expect);
        expect(enforced.stderr).toBe("");

        const need = NEEDS[w.name] ?? "";
        const names = profile.syscalls[0]?.names ?? [];
        expect(names).toContain(need);
        const without = {
          ...profile,
          syscalls: [{ names: names.filter((n) => n !== need), action: "SCMP_ACT_ALLOW" }],
        };
        const broken = await runcRun(w.argv, containerOptions(dir, env, without));
        expect(broken.code === 0 && broken.stdout === w.expect).toBe(false);
      },
    );
  });

  it.each(workloads.filter((w) => w.name !== "multi-threaded"))(
    "both recorders record the same syscalls for $name",
    (w) => {
      // Deterministic workloads only: thread scheduling can change which futex calls a run makes.
      const sets = RECORDERS.map((r) => {
        const rec = record(r, w, dir);
        expect(rec.status, rec.stderr).toBe(0);
        return rec.profile().syscalls[0]?.names ?? [];
      });
      expect(sets[1]).toEqual(sets[0]);
    },
  );

  it("falls back to the other recorder, with a warning, when the default one cannot run", () => {
    const r = spawnSync(
      "node",
      [
        CLI,
        "record",
        "--name",
        "fb",
        "--out",
        mkdtempSync(path.join(tmpdir(), "secprof-out-")),
        "--",
        "/usr/bin/true",
      ],
      {
        encoding: "utf8",
        env: { ...process.env, SECPROF_BPFTRACE: "/nonexistent/bpftrace" },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: the bpf recorder cannot run .*; using logs/);
  });

  it("exits 127 with a clear message when CMD does not exist", () => {
    const r = spawnSync("node", [CLI, "record", "--recorder", "logs", "--", "no-such-command-xyz"], {
      encoding: "utf8",
    });
    expect(r.status).toBe(127);
    expect(r.stderr).toContain("no-such-command-xyz: command not found");
  });

  it("passes CMD's exit code through and still writes the profile", () => {
    const r = record("logs", { name: "fails", argv: ["/bin/sh", "-c", "exit 7"], expect: "" }, dir);
    expect(r.status).toBe(7);
    expect(r.profile().syscalls[0]?.names).toContain("exit_group");
  });
});
