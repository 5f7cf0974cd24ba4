import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { DIFF_EXIT, type DiffFormat, diffCommand } from "./diff.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "secprof-diff-"));
});
const write = (name: string, content: unknown) => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, typeof content === "string" ? content : JSON.stringify(content));
  return p;
};
const oci = (names: string[], defaultAction = "SCMP_ACT_ERRNO") => ({
  defaultAction,
  architectures: ["SCMP_ARCH_X86_64"],
  syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
});

async function run(oldPath: string, newPath: string, format: DiffFormat = "text") {
  let stdout = "";
  let stderr = "";
  const code = await diffCommand(
    { old: oldPath, new: newPath, format },
    {
      stdout: {
        write: (s: string) => {
          stdout += s;
        },
      },
      stderr: {
        write: (s: string) => {
          stderr += s;
        },
      },
    },
  );
  return { code, stdout, stderr };
}

describe("secprof diff", () => {
  it("exits 0 when NEW allows nothing more, and 1 when it does", async () => {
    const a = write("old.json", oci(["read", "write"]));
    const b = write("new.json", oci(["read"]));
    const narrowed = await run(a, b);
    expect(narrowed.code).toBe(DIFF_EXIT.same);
    expect(narrowed.stdout).toMatch(/- syscall write: ALLOW → default ERRNO\n/);
    expect(narrowed.stdout).toMatch(/NEW allows nothing OLD did not \(1 change in 1 profile\)/);
    const widened = await run(b, a);
    expect(widened.code).toBe(DIFF_EXIT.widened);
    expect(widened.stdout).toContain("+ syscall write: default ERRNO → ALLOW   [widens]");
    expect(widened.stdout).toMatch(/NEW allows more than OLD: 1 of 1 change in 1 profile widen/);
    expect((await run(a, a)).stdout).toMatch(/No changes\./);
  });

  it("compares two single files whatever their names, and labels the pair", async () => {
    const a = write("v1.seccomp.json", oci(["read"]));
    const b = write("v2.seccomp.json", oci(["read"], "SCMP_ACT_LOG"));
    const r = await run(a, b);
    expect(r.code).toBe(DIFF_EXIT.widened);
    expect(r.stdout).toContain(
      "SeccompProfile v1 → v2\n  ~ default action defaultAction: ERRNO → LOG   [widens]",
    );
  });

  it("pairs directories by kind and name: only-in-NEW is all-added, only-in-OLD all-removed", async () => {
    write("old/web.seccomp.json", oci(["read"]));
    write("old/gone.seccomp.json", oci(["read"]));
    write("new/web.seccomp.json", oci(["read"]));
    write("new/fresh.seccomp.json", oci(["read", "write"]));
    const r = await run(path.join(dir, "old"), path.join(dir, "new"), "json");
    expect(r.code).toBe(DIFF_EXIT.widened);
    const d = JSON.parse(r.stdout) as {
      widened: boolean;
      changes: { profile: string; op: string; aspect: string }[];
    };
    expect(d.widened).toBe(true);
    expect(d.changes.filter((c) => c.aspect === "profile").map((c) => [c.profile, c.op])).toEqual([
      ["fresh", "added"],
      ["gone", "removed"],
    ]);
    expect(d.changes.filter((c) => c.profile === "fresh" && c.aspect === "syscall")).toHaveLength(2);
  });

  it("renders a pull-request comment in markdown, with hostile content inert", async () => {
    const aa = (paths: string[]) =>
      `apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: AppArmorProfile\nmetadata: {name: web}\nspec:\n  abstract:\n    filesystem:\n      readOnlyPaths: ${JSON.stringify(paths)}\n`;
    const a = write("a.yaml", aa(["/etc/**"]));
    const b = write("b.yaml", aa(["/etc/**", "/srv/a|b`<img src=x>`/**"]));
    const r = await run(a, b, "markdown");
    expect(r.code).toBe(DIFF_EXIT.widened);
    expect(r.stdout).toContain("### secprof diff: ⚠️ **NEW allows more than OLD**");
    expect(r.stdout).toContain(
      "| ➕ | `AppArmorProfile/web` | path `/srv/a\\|b'<img src=x>'/**` |  | `r` | ⚠️ widens |",
    );
  });

  it("exits 2 with a clear message on bad input", async () => {
    const good = write("good.json", oci(["read"]));
    const missing = await run(good, path.join(dir, "missing.json"));
    expect(missing.code).toBe(DIFF_EXIT.usage);
    expect(missing.stderr).toMatch(/^secprof diff: cannot read .*missing\.json: ENOENT/);
    const bad = await run(good, write("bad.yaml", "kind: Pod\n"));
    expect(bad.code).toBe(DIFF_EXIT.usage);
    expect(bad.stderr).toMatch(/kind "Pod"/);
    const twice = write(
      "twice.yaml",
      `${["a", "a"].map((n) => `apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SeccompProfile\nmetadata: {name: ${n}}\nspec: {defaultAction: SCMP_ACT_ERRNO}\n`).join("---\n")}`,
    );
    expect((await run(good, twice)).stderr).toMatch(/NEW holds SeccompProfile\/a more than once/);
  });
});
