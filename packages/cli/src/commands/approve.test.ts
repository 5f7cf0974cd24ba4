import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { KernelPolicy } from "@secprof/installer";
import { missing } from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { approve } from "./approve.js";
import { install } from "./install.js";

/** Single-host mode end to end: approve and install against a temp host root. */

let base: string;
let dir: string;
let root: string;
let out: string;
let err: string;
const io = () => ({
  stdout: {
    write: (s: string) => {
      out += s;
    },
  },
  stderr: {
    write: (s: string) => {
      err += s;
    },
  },
});
const noKernel: KernelPolicy = {
  unavailable: async () => "no AppArmor in this kernel",
  load: async () => {},
  unload: async () => {},
};

function profile(names: string[], defaultAction = "SCMP_ACT_ERRNO") {
  return {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SeccompProfile",
    metadata: { name: "web", annotations: { "secprof.x-k8s.io/recorder": "logs" } },
    spec: {
      defaultAction,
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  };
}

async function put(names: string[], defaultAction?: string) {
  await writeFile(path.join(dir, "web.seccomp.yaml"), stringify(profile(names, defaultAction)));
}

async function run(kind: "approve" | "install", args: Record<string, unknown> = {}) {
  out = "";
  err = "";
  const now = () => new Date("2025-03-03T12:00:00.000Z");
  if (kind === "approve")
    return approve({ ref: "seccomp/web", dir, by: "alice", ...args }, { ...io(), env: {}, now });
  return install(
    { dir, root, node: "host-1", ...args },
    {
      ...io(),
      hostname: "h",
      now,
      kernel: { AppArmorProfile: noKernel, SelinuxProfile: noKernel },
      readFile: (p) => readFile(p, "utf8"),
    },
  );
}

const hostFile = () => path.join(root, "var/lib/kubelet/seccomp/operator/default/web.json");

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), "secprof-cli-approve-"));
  dir = path.join(base, "profiles");
  root = path.join(base, "host");
  await mkdir(dir);
  await mkdir(root);
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("secprof approve + secprof install (single-host)", () => {
  it("installs only approved content, shows diffs, honours changes and revocation, removes deleted profiles", async () => {
    await put(["read", "write"]);
    // The bare OCI JSON `secprof record` writes next to the CR is not a profile object: skipped.
    await writeFile(path.join(dir, "web.seccomp.json"), '{"defaultAction":"SCMP_ACT_ERRNO"}\n');

    expect(await run("install")).toBe(0);
    expect(out).toMatch(/^Pending +SeccompProfile\/web {2}awaits approval of sha256:.*never approved/m);
    await expect(stat(hostFile())).rejects.toThrow();

    expect(await run("approve")).toBe(0);
    expect(out).toMatch(/nothing installed or approved before/);
    expect(out).toMatch(/\+! syscall read/);
    expect(out).toMatch(
      /^approved SeccompProfile\/web sha256:[0-9a-f]{12}… by alice at 2025-03-03T12:00:00.000Z$/m,
    );
    expect(await run("approve")).toBe(0);
    expect(out).toMatch(/already approved by alice/);

    expect(await run("install")).toBe(0);
    expect(out).toMatch(/^Installed +SeccompProfile\/web {2}installed sha256:/m);
    const v1 = await readFile(hostFile(), "utf8");
    expect(JSON.parse(v1).syscalls[0].names).toEqual(["read", "write"]);

    // Changed after approval: not installed, the approved version stays.
    await put(["read", "write", "execve"]);
    expect(await run("install")).toBe(0);
    expect(out).toMatch(/^Pending .*changed since alice approved.*stays in place/m);
    expect(await readFile(hostFile(), "utf8")).toBe(v1);

    // The diff is against what is installed.
    expect(await run("approve", { by: "bob" })).toBe(0);
    expect(out).toMatch(/compared with the version installed under/);
    expect(out).toMatch(/\+! syscall execve: default ERRNO -> ALLOW/);
    expect(out).not.toMatch(/syscall read/);
    expect(out).toMatch(/WIDENS/);
    expect(await run("install")).toBe(0);
    expect(JSON.parse(await readFile(hostFile(), "utf8")).syscalls[0].names).toContain("execve");

    // Revoke: no more installs; the file stays until the profile is deleted.
    expect(await run("approve", { revoke: true, by: "carol" })).toBe(0);
    expect(out).toMatch(/revoked the approval of SeccompProfile\/web .* revoked by carol/);
    expect(await run("approve", { revoke: true })).toBe(1);
    expect(err).toMatch(/no approval to revoke/);
    expect(await run("install")).toBe(0);
    expect(out).toMatch(/^Pending .*approval revoked by carol/m);
    await stat(hostFile());

    // Deleted from DIR: removed from the host.
    await unlink(path.join(dir, "web.seccomp.yaml"));
    expect(await run("install")).toBe(0);
    expect(out).toMatch(/^Removed +SeccompProfile\/web/m);
    await expect(stat(hostFile())).rejects.toThrow();

    const store = JSON.parse(await readFile(path.join(dir, ".secprof/approvals.json"), "utf8"));
    expect(store.approvals.map((a: { approvedBy: string }) => a.approvedBy)).toEqual(["alice", "bob"]);
    expect(store.approvals[1].revoked).toEqual({ by: "carol", at: "2025-03-03T12:00:00.000Z" });
    expect((await stat(path.join(dir, ".secprof/approvals.json"))).mode & 0o777).toBe(0o644);
  });

  it("refuses to approve an invalid profile", async () => {
    await put(["read"], "SCMP_ACT_ALLOW");
    expect(await run("approve")).toBe(1);
    expect(err).toMatch(/refusing to approve SeccompProfile\/web: invalid: defaultAction SCMP_ACT_ALLOW/);
    await put(["read", "not_a_syscall"]);
    expect(await run("approve")).toBe(1);
    expect(err).toMatch(/unknown syscall name/);
  });

  it("reports an invalid profile at install and exits 1, keeping the old file", async () => {
    await put(["read"]);
    await run("approve");
    await run("install");
    const before = await readFile(hostFile(), "utf8");
    await put(["read"], "SCMP_ACT_LOG");
    expect(await run("install")).toBe(1);
    expect(out).toMatch(
      /^Error +SeccompProfile\/web {2}invalid: defaultAction SCMP_ACT_LOG lets calls through/m,
    );
    expect(await readFile(hostFile(), "utf8")).toBe(before);
  });

  it("fails closed on a corrupt approval store", async () => {
    await put(["read"]);
    await mkdir(path.join(dir, ".secprof"));
    await writeFile(path.join(dir, ".secprof/approvals.json"), "{ not json");
    expect(await run("install")).toBe(1);
    expect(err).toMatch(/not valid JSON.*nothing was installed/);
    expect(await run("approve")).toBe(1);
    expect(await readFile(path.join(dir, ".secprof/approvals.json"), "utf8")).toBe("{ not json");
  });

  it.each([
    ["web", /expected KIND\/NAME/],
    ["pod/web", /unknown kind/],
    ["seccomp/../../etc", /expected KIND\/NAME|invalid/],
    ["seccomp/.x", /invalid name/],
  ])("rejects the reference %j", async (ref, msg) => {
    expect(await approve({ ref, dir, by: "alice" }, { ...io(), env: {} })).toBe(2);
    expect(err).toMatch(msg);
  });

  it("rejects an approver with control characters and reports a missing profile", async () => {
    expect(await run("approve", { by: "eve\napproved by root" })).toBe(2);
    expect(await run("approve")).toBe(1);
    expect(err).toMatch(/not found/);
  });

  it("uses SUDO_USER, then USER, as the approver", async () => {
    await put(["read"]);
    out = "";
    await approve({ ref: "seccomp/web", dir }, { ...io(), env: { SUDO_USER: "dana", USER: "root" } });
    expect(out).toMatch(/by dana at/);
  });

  it("removes temp files a killed run left behind, and refuses a missing root", async () => {
    await put(["read"]);
    await run("approve");
    await run("install");
    const tmp = path.join(path.dirname(hostFile()), ".web.json.0123456789abcdef.secprof-tmp");
    await writeFile(tmp, "half a profi");
    expect(await run("install")).toBe(0);
    expect(err).toContain(`removed a stale temp file ${tmp}`);
    await expect(stat(tmp)).rejects.toThrow();
    expect(await run("install", { root: path.join(base, "nope") })).toBe(1);
    expect(err).toMatch(/--root .*nope/);
  });

  it("rejects a bad --policy and applies a good one", async () => {
    await put(["read", "write"]);
    await run("approve");
    await writeFile(path.join(base, "policy.yaml"), "allowedSyscalls: [read]\n");
    expect(await run("install", { policy: path.join(base, "policy.yaml") })).toBe(1);
    expect(out).toMatch(/policy: not in the cluster's allowedSyscalls: write/);
    await writeFile(path.join(base, "bad.yaml"), "allowedSyscalls: 3\n");
    expect(await run("install", { policy: path.join(base, "bad.yaml") })).toBe(2);
  });
});

const noParser = missing("apparmor_parser");
describe.skipIf(noParser)(`AppArmor through the real compiler (${noParser ?? "apparmor_parser"})`, () => {
  function aa(paths: string[]) {
    return stringify({
      apiVersion: "security-profiles-operator.x-k8s.io/v1",
      kind: "AppArmorProfile",
      metadata: { name: "nginx" },
      spec: { abstract: { filesystem: { readOnlyPaths: paths } } },
    });
  }
  const run2 = async (kind: "approve" | "install") => {
    out = "";
    err = "";
    if (kind === "approve") return approve({ ref: "aa/nginx", dir, by: "alice" }, { ...io(), env: {} });
    return install(
      { dir, root },
      {
        ...io(),
        hostname: "h",
        kernel: { AppArmorProfile: noKernel, SelinuxProfile: noKernel },
        readFile: (p) => readFile(p, "utf8"),
      },
    );
  };

  it("compiles, installs and says it is not loaded; an invalid profile keeps the old one", async () => {
    await writeFile(path.join(dir, "nginx.yaml"), aa(["/etc/nginx/nginx.conf"]));
    expect(await run2("approve")).toBe(0);
    expect(await run2("install")).toBe(0);
    expect(out).toMatch(/^Installed +AppArmorProfile\/nginx .*not loaded: no AppArmor in this kernel/m);
    const file = path.join(root, "etc/apparmor.d/nginx");
    const before = await readFile(file, "utf8");
    // An unclosed alternation: refused by validation before it could reach apparmor_parser.
    await writeFile(path.join(dir, "nginx.yaml"), aa(["/etc/nginx/{nginx.conf"]));
    expect(await run2("approve")).toBe(1);
    expect(err).toMatch(/refusing to approve AppArmorProfile\/nginx: invalid: .*readOnlyPaths/i);
    expect(await run2("install")).toBe(1);
    expect(out).toMatch(/^Error +AppArmorProfile\/nginx {2}invalid: .*stays in place/m);
    expect(await readFile(file, "utf8")).toBe(before);
  });
});
