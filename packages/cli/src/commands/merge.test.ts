import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppArmorProfile, COVERAGE_ANNOTATION, SeccompProfile, SelinuxProfile } from "@secprof/core";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { MERGE_EXIT, MERGERS, type MergeOptions, mergeCommand } from "./merge.js";

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
    const row = MERGERS.SelinuxProfile;
    delete MERGERS.SelinuxProfile;
    try {
      expect((await run({ inputs: [sel] })).stderr).toMatch(
        /merging SelinuxProfile is not supported yet \(supported: SeccompProfile, AppArmorProfile\)/,
      );
    } finally {
      if (row !== undefined) MERGERS.SelinuxProfile = row;
    }
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

const V = "apiVersion: security-profiles-operator.x-k8s.io/v1";
const selinuxCR = (name: string, allow: string, labels = "") => `${V}
kind: SelinuxProfile
metadata:
  name: ${name}${labels}
spec:
  inherit: [{kind: System, name: container}]
  mode: Enforcing
  allow: ${allow}
`;
const apparmorCR = (name: string, abstract: string) => `${V}
kind: AppArmorProfile
metadata:
  name: ${name}
spec:
  mode: Enforce
  abstract: ${abstract}
`;

describe("secprof merge: SELinux and AppArmor", () => {
  it("unions two SelinuxProfiles by type, class and permission; writes the CR and the CIL", async () => {
    const a = write(
      "a.yaml",
      selinuxCR(
        "web-a",
        "{http_port_t: {tcp_socket: [name_bind]}, etc_t: {file: [open, read]}}",
        "\n  labels: {app: web, run: a}",
      ),
    );
    const b = write(
      "b.yaml",
      selinuxCR(
        "web-b",
        "{etc_t: {file: [getattr, read], dir: [search]}, '@self': {unix_stream_socket: [connectto]}}",
        "\n  labels: {app: web, run: b}",
      ),
    );
    const printed = await run({ inputs: [a, b], name: "web" });
    expect(printed.code).toBe(MERGE_EXIT.ok);
    const cr = SelinuxProfile.parse(parse(printed.stdout));
    expect(cr.metadata).toEqual({ name: "web", labels: { app: "web" } });
    expect(cr.spec.allow).toEqual({
      "@self": { unix_stream_socket: ["connectto"] },
      etc_t: { dir: ["search"], file: ["getattr", "open", "read"] },
      http_port_t: { tcp_socket: ["name_bind"] },
    });
    // Order does not matter.
    expect((await run({ inputs: [b, a], name: "web" })).stdout).toBe(printed.stdout);

    const out = path.join(dir, "out");
    const r = await run({ inputs: [a, b], name: "web", out });
    expect(r.code).toBe(MERGE_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual(["web.cil", "web.selinux.yaml"]);
    expect(readFileSync(path.join(out, "web.selinux.yaml"), "utf8")).toBe(printed.stdout);
    expect(readFileSync(path.join(out, "web.cil"), "utf8")).toBe(
      [
        "(block web",
        "(blockinherit container)",
        "(allow process etc_t ( dir ( search )))",
        "(allow process etc_t ( file ( getattr open read )))",
        "(allow process http_port_t ( tcp_socket ( name_bind )))",
        "(allow process web.process ( unix_stream_socket ( connectto )))",
        ")",
        "",
      ].join("\n"),
    );
  });

  it("unions two AppArmorProfiles glob-aware; writes the CR and the AppArmor text", async () => {
    const a = write(
      "a.yaml",
      apparmorCR(
        "nginx",
        "{executable: {allowedExecutables: [/usr/sbin/nginx]}, filesystem: {readOnlyPaths: [/etc/nginx/nginx.conf, /var/cache/nginx/a], writeOnlyPaths: [/var/log/nginx/error.log]}, network: {allowedProtocols: {allowTcp: true}}}",
      ),
    );
    const b = write(
      "b.yaml",
      apparmorCR(
        "nginx",
        "{filesystem: {readOnlyPaths: [/var/log/nginx/error.log], readWritePaths: ['/var/cache/nginx/*']}, capability: {allowedCapabilities: [net_bind_service]}}",
      ),
    );
    const out = path.join(dir, "out");
    const r = await run({ inputs: [a, b], out });
    expect(r.code).toBe(MERGE_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual(["nginx.apparmor", "nginx.apparmor.yaml"]);
    const cr = AppArmorProfile.parse(parse(readFileSync(path.join(out, "nginx.apparmor.yaml"), "utf8")));
    expect(cr.metadata.name).toBe("nginx");
    expect(cr.spec.abstract).toEqual({
      executable: { allowedExecutables: ["/usr/sbin/nginx"] },
      filesystem: {
        // The read-write glob absorbed the read-only literal it covers; read + write is read-write.
        readOnlyPaths: ["/etc/nginx/nginx.conf"],
        readWritePaths: ["/var/cache/nginx/*", "/var/log/nginx/error.log"],
      },
      network: { allowedProtocols: { allowTcp: true } },
      capability: { allowedCapabilities: ["net_bind_service"] },
    });
    const text = readFileSync(path.join(out, "nginx.apparmor"), "utf8");
    expect(text).toContain("profile nginx flags=(enforce,attach_disconnected,mediate_deleted) {\n");
    expect(text).toContain("  /var/cache/nginx/* rwlk,\n");
    expect(text).not.toContain("/var/cache/nginx/a");
    expect(text).toContain("  capability net_bind_service,\n");
  });

  it("merges each kind of a mixed input separately", async () => {
    const mixed = write(
      "mixed.yaml",
      [
        partial("web", ["read"]),
        selinuxCR("web", "{etc_t: {file: [read]}}"),
        apparmorCR("web", "{executable: {allowedExecutables: [/bin/sh]}}"),
      ].join("---\n"),
    );
    const more = write("more.yaml", selinuxCR("web", "{etc_t: {file: [open]}}"));
    const out = path.join(dir, "out");
    expect((await run({ inputs: [mixed, more], out })).code).toBe(MERGE_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual([
      "web.apparmor",
      "web.apparmor.yaml",
      "web.cil",
      "web.seccomp.json",
      "web.seccomp.yaml",
      "web.selinux.yaml",
    ]);
    expect(readFileSync(path.join(out, "web.cil"), "utf8")).toContain(
      "(allow process etc_t ( file ( open read )))",
    );
  });

  it("--check works for SELinux; a merged name CIL cannot take is refused with exit 2", async () => {
    const a = write("a.yaml", selinuxCR("web", "{etc_t: {file: [open, read]}}"));
    const b = write("b.yaml", selinuxCR("web", "{etc_t: {file: [read]}}"));
    expect((await run({ inputs: [a, b], check: true })).code).toBe(MERGE_EXIT.ok);
    expect((await run({ inputs: [b, a], check: true })).code).toBe(MERGE_EXIT.checkFailed);
    const bad = await run({ inputs: [a, b], name: "web.v2" });
    expect(bad.code).toBe(MERGE_EXIT.usage);
    expect(bad.stderr).toMatch(
      /cannot merge the SelinuxProfiles: the merged profile is invalid: .*CIL block/,
    );
  });
});
