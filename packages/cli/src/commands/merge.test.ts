import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { COVERAGE_ANNOTATION, SeccompProfile } from "@secprof/core";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { MERGE_EXIT, type MergeOptions, mergeCommand } from "./merge.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "secprof-merge-"));
});
const write = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const partial = (
  name: string,
  names: string[],
  extra = "",
) => `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata:
  name: ${name}
  labels: {spo.x-k8s.io/recording-id: web-rec, spo.x-k8s.io/partial: "true"}
spec:
  defaultAction: SCMP_ACT_ERRNO${extra}
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
    - action: SCMP_ACT_ALLOW
      names: ${JSON.stringify(names)}
`;

async function run(opts: Partial<MergeOptions> & { inputs: string[] }) {
  let stdout = "";
  let stderr = "";
  const code = await mergeCommand(
    { layout: "grouped", check: false, ...opts },
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

describe("secprof merge", () => {
  it("prints the union CR with SPO's coverage annotation", async () => {
    const a = write("a.yaml", partial("web-rec-nginx-aaaaa", ["read", "write"]));
    const b = write("b.yaml", partial("web-rec-nginx-bbbbb", ["openat", "read"]));
    const r = await run({ inputs: [a, b], name: "web-rec-nginx" });
    expect(r.code).toBe(MERGE_EXIT.ok);
    const cr = SeccompProfile.parse(parse(r.stdout));
    expect(cr.metadata.name).toBe("web-rec-nginx");
    expect(cr.metadata.labels).toEqual({ "spo.x-k8s.io/recording-id": "web-rec" });
    expect(cr.spec.syscalls).toEqual([{ names: ["openat", "read", "write"], action: "SCMP_ACT_ALLOW" }]);
    expect(JSON.parse(cr.metadata.annotations?.[COVERAGE_ANNOTATION] ?? "")).toEqual({
      version: "v1",
      total: 2,
      syscalls: { openat: 1, read: 2, write: 1 },
    });
  });

  it("writes the CR and the OCI JSON to --out, in SPO's one-name-per-rule form if asked", async () => {
    const a = write("a.yaml", partial("p-a", ["read", "write"]));
    const b = write(
      "b.json",
      '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["close"],"action":"SCMP_ACT_ALLOW"}]}',
    );
    const out = path.join(dir, "out");
    const r = await run({ inputs: [a, b], out, layout: "per-name" });
    expect(r.code).toBe(MERGE_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual(["p-a.seccomp.json", "p-a.seccomp.yaml"]);
    expect(JSON.parse(readFileSync(path.join(out, "p-a.seccomp.json"), "utf8"))).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: ["close", "read", "write"].map((n) => ({ names: [n], action: "SCMP_ACT_ALLOW" })),
    });
    expect(r.stderr).toContain(`wrote ${out}/p-a.seccomp.yaml`);
  });

  it("--check exits 0 when the first input already covers the merge, else 1 and says what is missing", async () => {
    const committed = write("committed.yaml", partial("web", ["openat", "read", "write"]));
    const fresh = write("fresh.yaml", partial("web-x", ["read"]));
    expect(await run({ inputs: [committed, fresh], check: true })).toMatchObject({ code: MERGE_EXIT.ok });
    const grown = write("grown.yaml", partial("web-y", ["read", "mmap"]));
    const r = await run({ inputs: [committed, grown], check: true });
    expect(r.code).toBe(MERGE_EXIT.checkFailed);
    expect(r.stderr).toContain("+ syscall mmap: default ERRNO → ALLOW   [widens]");
    expect(r.stdout).toBe("");
  });

  it("exits 2 for kinds without a merger, conflicts, bad names and bad input", async () => {
    const sel = write(
      "sel.yaml",
      "apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SelinuxProfile\nmetadata: {name: s}\nspec: {allow: {}}\n",
    );
    expect((await run({ inputs: [sel] })).stderr).toMatch(
      /merging SelinuxProfile is not supported yet \(supported: SeccompProfile\)/,
    );
    const a = write("a.yaml", partial("a", ["read"], "\n  baseProfileName: runc-v1.1.0"));
    const b = write("b.yaml", partial("b", ["read"], "\n  baseProfileName: crun-v1.8"));
    const conflict = await run({ inputs: [a, b] });
    expect(conflict.code).toBe(MERGE_EXIT.usage);
    expect(conflict.stderr).toMatch(
      /cannot merge the SeccompProfiles: the profiles disagree on baseProfileName/,
    );
    expect((await run({ inputs: [a], name: "Bad_Name" })).stderr).toMatch(/invalid --name "Bad_Name"/);
    expect((await run({ inputs: [path.join(dir, "none.yaml")] })).code).toBe(MERGE_EXIT.usage);
  });
});
