import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { CONVERT_EXIT, type ConvertOptions, convertCommand } from "./convert.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "secprof-convert-"));
});
const write = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

const V = "apiVersion: security-profiles-operator.x-k8s.io/v1";
const SELINUX = `${V}
kind: SelinuxProfile
metadata:
  name: web-rec-nginx
spec:
  inherit: [{kind: System, name: container}]
  mode: Enforcing
  allow:
    http_port_t:
      tcp_socket: [name_bind]
    "@self":
      unix_stream_socket: [connectto]
`;
const APPARMOR = `${V}
kind: AppArmorProfile
metadata:
  name: web-rec-nginx
spec:
  mode: Enforce
  abstract:
    executable:
      allowedExecutables: [/usr/sbin/nginx]
    filesystem:
      readOnlyPaths: [/etc/nginx/nginx.conf]
      readWritePaths: [/var/cache/nginx/*]
    network:
      allowedProtocols: {allowTcp: true}
    capability:
      allowedCapabilities: [net_bind_service, setuid]
`;
const SECCOMP = `${V}
kind: SeccompProfile
metadata:
  name: web-rec-nginx
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
    - action: SCMP_ACT_ALLOW
      names: [write, read]
`;

async function run(opts: ConvertOptions) {
  let stdout = "";
  let stderr = "";
  const code = await convertCommand(opts, {
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
  });
  return { code, stdout, stderr };
}

describe("secprof convert", () => {
  it("prints a SelinuxProfile's CIL module (with @self written out)", async () => {
    const r = await run({ inputs: [write("sel.yaml", SELINUX)] });
    expect(r).toEqual({
      code: CONVERT_EXIT.ok,
      stderr: "",
      stdout: [
        "(block web-rec-nginx",
        "(blockinherit container)",
        "(allow process http_port_t ( tcp_socket ( name_bind )))",
        "(allow process web-rec-nginx.process ( unix_stream_socket ( connectto )))",
        ")",
        "",
      ].join("\n"),
    });
  });

  it("prints an AppArmorProfile's profile text", async () => {
    const r = await run({ inputs: [write("aa.yaml", APPARMOR)] });
    expect(r.code).toBe(CONVERT_EXIT.ok);
    expect(r.stdout).toContain(
      "profile web-rec-nginx flags=(enforce,attach_disconnected,mediate_deleted) {\n",
    );
    for (const rule of [
      "  /usr/sbin/nginx ixr,\n",
      "  /etc/nginx/nginx.conf r,\n",
      "  /var/cache/nginx/* rwlk,\n",
      "  network tcp,\n",
      "  capability net_bind_service,\n",
      "  capability setuid,\n",
    ])
      expect(r.stdout).toContain(rule);
  });

  it("prints a SeccompProfile's OCI JSON, and canonicalises a bare OCI profile", async () => {
    const r = await run({ inputs: [write("sc.yaml", SECCOMP)] });
    expect(JSON.parse(r.stdout)).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["write", "read"], action: "SCMP_ACT_ALLOW" }],
    });
    const bare = await run({ inputs: [write("x.seccomp.json", r.stdout)] });
    expect(bare.stdout).toBe(r.stdout);
  });

  it("writes every profile of a multi-document file and of several files to --out", async () => {
    const multi = write("all.yaml", [SECCOMP, SELINUX, APPARMOR].join("---\n"));
    const other = write("other.yaml", SELINUX.replaceAll("web-rec-nginx", "db"));
    const out = path.join(dir, "out");
    const r = await run({ inputs: [multi, other], out });
    expect(r.code).toBe(CONVERT_EXIT.ok);
    expect(readdirSync(out).sort()).toEqual([
      "db.cil",
      "web-rec-nginx.apparmor",
      "web-rec-nginx.cil",
      "web-rec-nginx.seccomp.json",
    ]);
    expect(readFileSync(path.join(out, "db.cil"), "utf8")).toMatch(/^\(block db\n/);
    expect(readFileSync(path.join(out, "web-rec-nginx.apparmor"), "utf8")).toContain(
      "profile web-rec-nginx ",
    );
    expect(r.stderr).toContain(`wrote ${out}/web-rec-nginx.cil`);
    expect(r.stdout).toBe("");
  });

  it("the same profile twice is fine; two different ones under one name are refused", async () => {
    const a = write("a.yaml", SELINUX);
    const out = path.join(dir, "out");
    expect((await run({ inputs: [a, a], out })).code).toBe(CONVERT_EXIT.ok);
    const b = write("b.yaml", SELINUX.replace("name_bind", "name_connect"));
    const r = await run({ inputs: [a, b], out: path.join(dir, "out2") });
    expect(r.code).toBe(CONVERT_EXIT.usage);
    expect(r.stderr).toMatch(/SelinuxProfile "web-rec-nginx" is defined twice with different content/);
    expect(existsSync(path.join(dir, "out2"))).toBe(false);
  });

  it("validates everything first: invalid input exits 2, names every problem and writes nothing", async () => {
    const good = write("good.yaml", APPARMOR);
    // Valid CRs, but CIL cannot name a block `a.b`, and `shadow_t` is on the deny list.
    const badName = write("bad-name.yaml", SELINUX.replace("name: web-rec-nginx", "name: a.b"));
    const denied = write("denied.yaml", SELINUX.replace("http_port_t", "shadow_t"));
    const out = path.join(dir, "out");
    const r = await run({ inputs: [good, badName, denied], out });
    expect(r.code).toBe(CONVERT_EXIT.usage);
    expect(r.stderr).toMatch(/bad-name\.yaml: SelinuxProfile "a\.b" is invalid:\n {2}- .*CIL block/);
    expect(r.stderr).toMatch(
      /denied\.yaml: SelinuxProfile "web-rec-nginx" is invalid:\n {2}- type shadow_t is on the deny list/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it("exits 2 for schema errors, unreadable files, non-profiles and several profiles without --out", async () => {
    const schema = await run({ inputs: [write("s.yaml", APPARMOR.replace("mode: Enforce", "mode: Loud"))] });
    expect(schema.code).toBe(CONVERT_EXIT.usage);
    expect(schema.stderr).toMatch(/not a valid AppArmorProfile: spec\.mode/);
    expect((await run({ inputs: [path.join(dir, "missing.yaml")] })).stderr).toMatch(/cannot read .*ENOENT/);
    expect((await run({ inputs: [write("cm.yaml", "kind: ConfigMap\n")] })).code).toBe(CONVERT_EXIT.usage);
    expect((await run({ inputs: [write("empty.yaml", "")] })).stderr).toMatch(/no profiles in/);
    const two = await run({ inputs: [write("two.yaml", `${SELINUX}---\n${APPARMOR}`)] });
    expect(two.code).toBe(CONVERT_EXIT.usage);
    expect(two.stderr).toContain("2 profiles (web-rec-nginx.cil, web-rec-nginx.apparmor): use --out DIR");
    expect(two.stdout).toBe("");
  });
});
