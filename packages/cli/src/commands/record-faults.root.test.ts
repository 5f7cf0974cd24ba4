import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { missing } from "@secprof/testkit";
import { afterEach, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const skip = missing("root", "auditd");

function secprof(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync("node", [CLI, ...args], { encoding: "utf8", timeout: 120_000, env });
}

describe.skipIf(skip)(`record: bad input and faults (${skip ?? "real auditd"})`, () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it("names the fix when the audit log is missing", () => {
    const r = secprof([
      "record",
      "--recorder",
      "logs",
      "--audit-log",
      "/nonexistent/audit.log",
      "--",
      "/usr/bin/true",
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot read the audit log \/nonexistent\/audit\.log.*--audit-log/);
  });

  it("reports a full disk, leaves no partial file behind, and still ran CMD", () => {
    const mnt = mkdtempSync(path.join(tmpdir(), "secprof-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
    cleanups.push(() => {
      spawnSync("umount", [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    });
    // Fill it up to the last block.
    spawnSync("dd", ["if=/dev/zero", `of=${mnt}/filler`, "bs=4k"], { stdio: "ignore" });
    const r = secprof([
      "record",
      "--recorder",
      "logs",
      "--name",
      "full",
      "--out",
      mnt,
      "--",
      "/bin/sh",
      "-c",
      "echo ran",
    ]);
    expect(r.stdout).toBe("ran\n");
    expect(r.status).toBe(74);
    expect(r.stderr).toContain("no space left on device");
    expect(readdirSync(mnt)).toEqual(["filler"]);
  });

  it("marks the profile incomplete when the kernel drops audit records (auditd stalled, backlog full)", () => {
    const out = mkdtempSync(path.join(tmpdir(), "secprof-out-"));
    const auditd = readFileSync("/var/run/auditd.pid", "utf8").trim();
    const status = execFileSync("auditctl", ["-s"], { encoding: "utf8" });
    const waitTime = /backlog_wait_time (\d+)/.exec(status)?.[1] ?? "60000";
    // The kernel drops instead of waiting, and auditd reads nothing while stopped: a workload
    // logging many more records than the 8192-record backlog overflows it.
    execFileSync("auditctl", ["--backlog_wait_time", "0"]);
    process.kill(Number(auditd), "SIGSTOP");
    cleanups.push(() => {
      process.kill(Number(auditd), "SIGCONT");
      execFileSync("auditctl", ["--backlog_wait_time", waitTime]);
    });
    const script = path.join(out, "flood.sh");
    writeFileSync(script, "i=0; while [ $i -lt 3000 ]; do /usr/bin/true; i=$((i+1)); done\n");
    const child = spawnSync(
      "sh",
      [
        "-c",
        `node ${CLI} record --recorder logs --name flood --out ${out} -- /bin/sh ${script} & sleep 4; kill -CONT ${auditd}; wait`,
      ],
      {
        encoding: "utf8",
        timeout: 300_000,
      },
    );
    expect(child.stderr).toMatch(/INCOMPLETE[\s\S]*kernel dropped \d+ audit records/);
    const yaml = readFileSync(path.join(out, "flood.seccomp.yaml"), "utf8");
    expect(yaml).toMatch(/secprof\.x-k8s\.io\/incomplete: .*kernel dropped/);
  });
});
