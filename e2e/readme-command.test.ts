import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { missing } from "@secprof/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./node/procs.js";

/**
 * The README's first command, as a newcomer types it after `scripts/setup`: through `npx secprof`
 * (the bin link npm makes for the cli workspace), so a setup that leaves no `secprof` executable
 * fails here instead of on a fresh machine.
 */
const skip = missing("root", "auditd", "runc");
const out = mkdtempSync(path.join(tmpdir(), "secprof-readme-"));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.skipIf(skip !== undefined)(`README's record command${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("npx secprof record --recorder logs --for runc writes a seccomp profile that allows what `ls / | wc -l` did", async () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const line = /scripts\/setup && (npx secprof record [^\n]*)/.exec(readme)?.[1];
    expect(line, "README keeps its record command").toBeDefined();
    const cmd = (line ?? "").replace("--out profiles", `--out ${out}`);
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile("sh", ["-c", cmd], { cwd: ROOT, encoding: "utf8", timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({
          status: err === null ? 0 : typeof err.code === "number" ? err.code : null,
          stdout,
          stderr,
        }),
      ),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0); // CMD's stdout passes through
    const profile = JSON.parse(readFileSync(path.join(out, "demo.seccomp.json"), "utf8")) as {
      defaultAction: string;
      syscalls: { names: string[]; action: string }[];
    };
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(profile.syscalls[0]?.names).toEqual(
      expect.arrayContaining(["execve", "getdents64", "pipe2", "write"]),
    );
    expect(readFileSync(path.join(out, "demo.seccomp.yaml"), "utf8")).toContain("kind: SeccompProfile");
  }, 200_000);
});
