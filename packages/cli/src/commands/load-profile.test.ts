import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { InputError, loadFile, loadProfiles } from "./load-profile.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "secprof-load-"));
});
const write = (name: string, content: string) => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
};

const OCI = '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}';
const CR = `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata:
  name: web
spec:
  defaultAction: SCMP_ACT_ERRNO
  syscalls:
    - names: [read]
      action: SCMP_ACT_ALLOW
`;
const SELINUX = `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SelinuxProfile
metadata: {name: web}
spec:
  allow:
    http_port_t: {tcp_socket: [name_bind]}
`;
const APPARMOR = `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: AppArmorProfile
metadata: {name: web}
spec:
  abstract:
    filesystem: {readOnlyPaths: [/etc/nginx/**]}
`;

describe("loadFile", () => {
  it("reads OCI seccomp JSON, naming the profile after the file", async () => {
    const [p] = await loadFile(write("web.seccomp.json", OCI));
    expect(p?.profile.kind).toBe("SeccompProfile");
    expect(p?.profile.metadata.name).toBe("web");
  });

  it("reads multi-document YAML of all three kinds, and Lists", async () => {
    const got = await loadFile(write("all.yaml", `${CR}---\n${SELINUX}---\n${APPARMOR}`));
    expect(got.map((p) => [p.profile.kind, p.source.replace(dir, "")])).toEqual([
      ["SeccompProfile", "/all.yaml#1"],
      ["SelinuxProfile", "/all.yaml#2"],
      ["AppArmorProfile", "/all.yaml#3"],
    ]);
    const sel = got[1]?.profile;
    expect(sel?.kind === "SelinuxProfile" && sel.spec.mode).toBe("Enforcing");
    const list = { apiVersion: "v1", kind: "List", items: [{ ...JSON.parse(OCI) }] };
    await expect(loadFile(write("list.json", JSON.stringify(list)))).resolves.toHaveLength(1);
  });

  it.each([
    ["bad.json", "{", /bad\.json: not valid JSON/],
    ["bad.yaml", "a: [", /bad\.yaml: not valid YAML/],
    [
      "pod.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
      /kind "Pod": expected an OCI seccomp profile or a SeccompProfile/,
    ],
    [
      "x.yaml",
      CR.replace("SCMP_ACT_ALLOW", "SCMP_ACT_MAYBE"),
      /not a valid SeccompProfile: spec\.syscalls\.0\.action/,
    ],
    ["oci.json", '{"defaultAction":"NOPE"}', /not a valid OCI seccomp profile: defaultAction/],
    ["str.yaml", "just a string\n", /not a profile/],
  ])("refuses %s with a clear message", async (name, content, message) => {
    const p = loadFile(write(name, content));
    await expect(p).rejects.toThrow(InputError);
    await expect(loadFile(write(name, content))).rejects.toThrow(message);
  });

  it("says which file is missing", async () => {
    await expect(loadProfiles(path.join(dir, "nope.yaml"))).rejects.toThrow(
      /cannot read .*nope\.yaml: ENOENT/,
    );
  });
});

describe("loadProfiles on a directory", () => {
  it("pairs a profile's JSON and YAML renderings into one, keeping the CR, and skips the bundle manifest and other files", async () => {
    write("web.seccomp.json", OCI);
    write("web.seccomp.yaml", CR);
    write("web.cil", "(block web)");
    write("nested/db.yaml", CR.replace("name: web", "name: db"));
    write(
      "manifest.json",
      JSON.stringify({
        v: 1,
        recording: { namespace: "shop", name: "r" },
        recorder: "Bpf",
        nodes: [],
        startedAt: "2025-01-01T00:00:00Z",
        endedAt: "2025-01-01T00:00:00Z",
        loss: {},
        files: [
          {
            path: "web.seccomp.json",
            sha256: "0".repeat(64),
            size: 1,
            kind: "SeccompProfile",
            profile: "web",
            format: "oci-seccomp-json",
          },
        ],
      }),
    );
    const got = await loadProfiles(dir);
    expect(got.directory).toBe(true);
    expect(got.profiles.map((p) => [p.profile.metadata.name, path.basename(p.source)])).toEqual([
      ["db", "db.yaml"],
      ["web", "web.seccomp.yaml"],
    ]);
    expect(got.skipped.map((s) => path.basename(s))).toEqual(["web.cil"]);
  });

  it("refuses two different definitions of one profile", async () => {
    write("web.seccomp.json", OCI.replace("read", "write"));
    write("web.seccomp.yaml", CR);
    await expect(loadProfiles(dir)).rejects.toThrow(
      /SeccompProfile\/web is defined twice with different content/,
    );
  });
});
