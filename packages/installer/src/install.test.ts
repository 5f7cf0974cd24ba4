import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type AppArmorProfile,
  type ApprovalRecord,
  type ProfileObject,
  renderAppArmorProfile,
  renderSelinuxCil,
  type SelinuxProfile,
} from "@secprof/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostWriter } from "./host-writer.js";
import { type DesiredProfile, type InstalledEntry, type ReconcileDeps, reconcile } from "./install.js";
import { AppArmorKernel, type KernelPolicy, LoadError, type Validator } from "./kernel.js";
import { profileDigest } from "./render.js";
import type { NodeProfileStatus } from "./status.js";
import type { WorkloadUsage } from "./usage.js";

const API = "security-profiles-operator.x-k8s.io/v1";
let base: string;
let root: string;
let writer: HostWriter;

function seccomp(
  name: string,
  names = ["read", "write"],
  extra: Partial<ProfileObject["metadata"]> = {},
): ProfileObject {
  return {
    apiVersion: API,
    kind: "SeccompProfile",
    metadata: { name, namespace: "shop", ...extra },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  };
}

function apparmor(name: string, paths = ["/etc/x"]): AppArmorProfile {
  return {
    apiVersion: API,
    kind: "AppArmorProfile",
    metadata: { name },
    spec: { mode: "Enforce", abstract: { filesystem: { readOnlyPaths: paths } } },
  };
}

function selinux(name: string): SelinuxProfile {
  return {
    apiVersion: API,
    kind: "SelinuxProfile",
    metadata: { name },
    spec: {
      inherit: [{ kind: "System", name: "container" }],
      mode: "Enforcing",
      allow: { "@self": { tcp_socket: ["listen"] } },
    },
  };
}

function approve(p: ProfileObject, extra: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const r: ApprovalRecord = {
    kind: p.kind,
    name: p.metadata.name,
    digest: profileDigest(p),
    approvedBy: "alice",
    approvedAt: "2025-01-01T00:00:00.000Z",
    ...extra,
  };
  if (p.metadata.namespace !== undefined) r.namespace = p.metadata.namespace;
  return r;
}

const okValidator: Validator = { validate: async () => ({ ok: true }) };

class FakeKernel implements KernelPolicy {
  loaded = new Map<string, string>();
  fail: string | undefined;
  calls: string[] = [];
  constructor(private readonly why: string | undefined = undefined) {}
  async unavailable() {
    return this.why;
  }
  async load(name: string, text: string) {
    this.calls.push(`load ${name}`);
    if (this.fail !== undefined) throw new LoadError(this.fail);
    this.loaded.set(name, text);
  }
  async unload(name: string) {
    this.calls.push(`unload ${name}`);
    this.loaded.delete(name);
  }
}

let aaKernel: FakeKernel;
let seKernel: FakeKernel;
let users: Map<string, string[]>;
let seen: NodeProfileStatus[];

const usage: WorkloadUsage = { usersOf: async (ref) => users.get(ref.name) ?? [] };

function deps(extra: Partial<ReconcileDeps> = {}): ReconcileDeps {
  return {
    writer,
    node: "node-1",
    kernel: { AppArmorProfile: aaKernel, SelinuxProfile: seKernel },
    usage,
    validator: okValidator,
    seccomp: { nativeArch: "x86_64" },
    now: () => new Date("2025-02-02T00:00:00.000Z"),
    onStatus: (s) => seen.push(s),
    ...extra,
  };
}

const want = (...ps: (ProfileObject | DesiredProfile)[]): DesiredProfile[] =>
  ps.map((p) => ("object" in p ? p : { object: p }));

const seccompPath = (name: string) =>
  path.join(root, "var/lib/kubelet/seccomp/operator/shop", `${name}.json`);

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), "secprof-install-"));
  root = path.join(base, "root");
  await mkdir(root);
  writer = await HostWriter.open({ root });
  aaKernel = new FakeKernel();
  seKernel = new FakeKernel("SELinux is not enabled");
  users = new Map();
  seen = [];
});

afterEach(async () => {
  await writer.close();
  await rm(base, { recursive: true, force: true });
});

describe("approval bound to content", () => {
  it("installs an approved profile, then leaves it alone when nothing changed", async () => {
    const p = seccomp("web");
    const r1 = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r1.statuses).toMatchObject([
      {
        state: "Installed",
        reason: "Installed",
        digest: profileDigest(p),
        installedDigest: profileDigest(p),
        localhostProfile: "operator/shop/web.json",
        node: "node-1",
      },
    ]);
    expect(JSON.parse(await readFile(seccompPath("web"), "utf8"))).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }],
    });
    expect(seen.map((s) => s.state)).toEqual(["InProgress", "Installed"]);
    const ino = (await stat(seccompPath("web"))).ino;
    const r2 = await reconcile(
      { desired: want(p), approvals: [approve(p)], installed: r1.installed },
      deps(),
    );
    expect(r2.statuses[0]?.message).toMatch(/^up to date/);
    expect((await stat(seccompPath("web"))).ino).toBe(ino);
    expect(r2.installed).toEqual(r1.installed);
  });

  it("does not install an unapproved profile", async () => {
    const p = seccomp("web");
    const r = await reconcile({ desired: want(p), approvals: [], installed: [] }, deps());
    expect(r.statuses).toMatchObject([{ state: "Pending", reason: "AwaitingApproval" }]);
    expect(r.statuses[0]?.message).toMatch(/never approved/);
    expect(await readdir(root)).toEqual([]);
  });

  it("a profile changed after approval is not installed; the approved version stays on the host", async () => {
    const v1 = seccomp("web");
    const r1 = await reconcile({ desired: want(v1), approvals: [approve(v1)], installed: [] }, deps());
    const before = await readFile(seccompPath("web"));
    const v2 = seccomp("web", ["read", "write", "execve"]);
    const r2 = await reconcile(
      { desired: want(v2), approvals: [approve(v1)], installed: r1.installed },
      deps(),
    );
    expect(r2.statuses).toMatchObject([
      {
        state: "Pending",
        reason: "AwaitingApproval",
        digest: profileDigest(v2),
        installedDigest: profileDigest(v1),
      },
    ]);
    expect(r2.statuses[0]?.message).toMatch(/awaits approval of sha256:.*changed since alice approved/);
    expect(r2.statuses[0]?.message).toMatch(/installed version .* stays in place/);
    expect(await readFile(seccompPath("web"))).toEqual(before);
    expect(r2.installed).toEqual(r1.installed);
    // Approving v2 installs it.
    const r3 = await reconcile(
      { desired: want(v2), approvals: [approve(v1), approve(v2)], installed: r2.installed },
      deps(),
    );
    expect(r3.statuses[0]?.state).toBe("Installed");
    expect(await readFile(seccompPath("web"), "utf8")).toContain("execve");
  });

  it("a revoked approval stops installs and says so", async () => {
    const p = seccomp("web");
    const revoked = approve(p, { revoked: { by: "bob", at: "2025-01-03T00:00:00.000Z" } });
    const r = await reconcile({ desired: want(p), approvals: [revoked], installed: [] }, deps());
    expect(r.statuses).toMatchObject([{ state: "Pending", reason: "AwaitingApproval" }]);
    expect(r.statuses[0]?.message).toMatch(/revoked by bob/);
    expect(await readdir(root)).toEqual([]);
  });

  it("an approval of another namespace or kind does not count", async () => {
    const p = seccomp("web");
    const other = { ...approve(p), namespace: "other" };
    const r = await reconcile({ desired: want(p), approvals: [other], installed: [] }, deps());
    expect(r.statuses[0]?.state).toBe("Pending");
  });
});

describe("validation before anything touches the host", () => {
  it("an invalid profile leaves the old one in place and reports why, approved or not", async () => {
    const good = seccomp("web");
    const r1 = await reconcile({ desired: want(good), approvals: [approve(good)], installed: [] }, deps());
    const before = await readFile(seccompPath("web"));
    const allowAll = seccomp("web");
    (allowAll.spec as { defaultAction: string }).defaultAction = "SCMP_ACT_ALLOW";
    for (const approvals of [[approve(allowAll)], []]) {
      const r = await reconcile({ desired: want(allowAll), approvals, installed: r1.installed }, deps());
      expect(r.statuses).toMatchObject([{ state: "Error", reason: "Invalid" }]);
      expect(r.statuses[0]?.message).toMatch(/lets calls through.*stays in place/);
      expect(await readFile(seccompPath("web"))).toEqual(before);
    }
    const typo = seccomp("web", ["read", "wirte"]);
    const r = await reconcile(
      { desired: want(typo), approvals: [approve(typo)], installed: r1.installed },
      deps(),
    );
    expect(r.statuses[0]?.message).toMatch(/unknown syscall name.*wirte/);
    expect(await readFile(seccompPath("web"))).toEqual(before);
  });

  it("a schema error is reported under the profile's name", async () => {
    const bad = {
      apiVersion: API,
      kind: "SeccompProfile",
      metadata: { name: "web", namespace: "shop" },
      spec: { syscalls: 1 },
    };
    const r = await reconcile({ desired: want({ object: bad }), approvals: [], installed: [] }, deps());
    expect(r.statuses).toMatchObject([{ name: "web", state: "Error", reason: "Invalid" }]);
    expect(r.statuses[0]?.message).toMatch(/schema/);
    const unreadable = await reconcile(
      { desired: [{ object: { hello: 1 }, source: "x.yaml" }], approvals: [], installed: [] },
      deps(),
    );
    expect(unreadable.unreadable).toMatchObject([{ source: "x.yaml" }]);
  });

  it.each(["../x", "a/../../etc/passwd", "/abs", ".hidden", "x\0y", "a".repeat(300)])(
    "rejects the odd name %j before the host is touched",
    async (name) => {
      const p = seccomp("web");
      p.metadata.name = name;
      const r = await reconcile({ desired: want(p), approvals: [], installed: [] }, deps());
      expect(r.statuses).toMatchObject([{ state: "Error", reason: "Invalid" }]);
      expect(await readdir(root)).toEqual([]);
    },
  );

  it("rejects a namespace that is not a label", async () => {
    const p = seccomp("web", ["read"], { namespace: "../etc" });
    const r = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r.statuses[0]?.state).toBe("Error");
    expect(await readdir(root)).toEqual([]);
  });

  it("a profile defined twice is an error for both and touches nothing", async () => {
    const a = seccomp("web");
    const b = seccomp("web", ["read"]);
    const r = await reconcile({ desired: want(a, b), approvals: [approve(a)], installed: [] }, deps());
    expect(r.statuses).toMatchObject([{ state: "Error", message: expect.stringMatching(/more than once/) }]);
    expect(await readdir(root)).toEqual([]);
  });

  it("AppArmor fails closed without a compiler and reports the compiler's error", async () => {
    const p = apparmor("web");
    const r1 = await reconcile(
      { desired: want(p), approvals: [approve(p)], installed: [] },
      deps({ validator: undefined }),
    );
    expect(r1.statuses[0]?.message).toMatch(/no apparmor_parser validator/);
    const bad: Validator = { validate: async () => ({ ok: false, message: "syntax error at line 3" }) };
    const r2 = await reconcile(
      { desired: want(p), approvals: [approve(p)], installed: [] },
      deps({ validator: bad }),
    );
    expect(r2.statuses).toMatchObject([{ state: "Error", reason: "Invalid" }]);
    expect(r2.statuses[0]?.message).toMatch(/syntax error at line 3/);
    expect(await readdir(root)).toEqual([]);
  });

  it("Partial and Disabled profiles are not installed", async () => {
    const partial = seccomp("a", ["read"], { labels: { "spo.x-k8s.io/partial": "true" } });
    const disabled = seccomp("b");
    (disabled.spec as { state?: string }).state = "Disabled";
    const r = await reconcile(
      { desired: want(partial, disabled), approvals: [approve(partial), approve(disabled)], installed: [] },
      deps(),
    );
    expect(r.statuses.map((s) => s.state)).toEqual(["Partial", "Disabled"]);
    expect(await readdir(root)).toEqual([]);
  });
});

describe("apply", () => {
  it("installs AppArmor without loading it when the kernel has no AppArmor, and says so", async () => {
    const p = apparmor("web");
    const kernel = new AppArmorKernel({ sysfs: path.join(base, "no-sys") });
    const r = await reconcile(
      { desired: want(p), approvals: [approve(p)], installed: [] },
      deps({ kernel: { AppArmorProfile: kernel, SelinuxProfile: seKernel } }),
    );
    expect(r.statuses).toMatchObject([
      { state: "Installed", kernel: { loaded: false, reason: "no AppArmor in this kernel" } },
    ]);
    expect(r.statuses[0]?.message).toMatch(/not loaded: no AppArmor in this kernel/);
    expect(await readFile(path.join(root, "etc/apparmor.d/web"), "utf8")).toMatch(/^# Generated by secprof/);
    expect(r.installed[0]?.loaded).toBe(false);
  });

  it("loads AppArmor when available, and only again when the content changes", async () => {
    const p = apparmor("web");
    const r1 = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r1.statuses[0]?.kernel).toEqual({ loaded: true });
    await reconcile({ desired: want(p), approvals: [approve(p)], installed: r1.installed }, deps());
    expect(aaKernel.calls).toEqual(["load web"]);
  });

  it("a failed load of a new profile removes the file; of an update restores the previous file", async () => {
    const v1 = apparmor("web");
    aaKernel.fail = "apparmor_parser: bad policy";
    const r0 = await reconcile({ desired: want(v1), approvals: [approve(v1)], installed: [] }, deps());
    expect(r0.statuses).toMatchObject([{ state: "Error", reason: "LoadFailed" }]);
    expect(r0.statuses[0]?.message).toMatch(/bad policy; the new file was removed/);
    expect(await readdir(path.join(root, "etc/apparmor.d"))).toEqual([]);
    expect(r0.installed).toEqual([]);

    aaKernel.fail = undefined;
    const r1 = await reconcile({ desired: want(v1), approvals: [approve(v1)], installed: [] }, deps());
    const before = await readFile(path.join(root, "etc/apparmor.d/web"));
    const v2 = apparmor("web", ["/etc/y"]);
    aaKernel.fail = "apparmor_parser: nope";
    const r2 = await reconcile(
      { desired: want(v2), approvals: [approve(v2)], installed: r1.installed },
      deps(),
    );
    expect(r2.statuses[0]?.message).toMatch(/the previous file was restored/);
    expect(await readFile(path.join(root, "etc/apparmor.d/web"))).toEqual(before);
    expect(r2.installed).toEqual(r1.installed);
  });

  it("SELinux disabled: the CIL is installed, not loaded, and the status says so", async () => {
    const p = selinux("web");
    const r = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r.statuses).toMatchObject([
      { state: "Installed", kernel: { loaded: false, reason: "SELinux is not enabled" } },
    ]);
    expect((await stat(path.join(root, "etc/selinux.d/web.cil"))).mode & 0o777).toBe(0o600);
  });

  it("installs core's renderings: AppArmor byte for byte, SELinux after one mark line; loads those bytes", async () => {
    const a = apparmor("web");
    const s = selinux("web");
    seKernel = new FakeKernel();
    const r = await reconcile(
      { desired: want(a, s), approvals: [approve(a), approve(s)], installed: [] },
      deps({ kernel: { AppArmorProfile: aaKernel, SelinuxProfile: seKernel } }),
    );
    expect(r.statuses.map((x) => x.state)).toEqual(["Installed", "Installed"]);
    const aaText = await readFile(path.join(root, "etc/apparmor.d/web"), "utf8");
    expect(aaText).toBe(renderAppArmorProfile(a));
    const cil = await readFile(path.join(root, "etc/selinux.d/web.cil"), "utf8");
    const [mark, ...rest] = cil.split("\n");
    expect(mark).toBe(
      "; Generated by secprof from SelinuxProfile web; do not edit: the installer overwrites it.",
    );
    expect(rest.join("\n")).toBe(renderSelinuxCil(s));
    expect(aaKernel.loaded.get("web")).toBe(aaText);
    expect(seKernel.loaded.get("web")).toBe(cil);
  });

  it("refuses to overwrite, and never removes, an SELinux module file it did not write", async () => {
    await mkdir(path.join(root, "etc/selinux.d"), { recursive: true });
    await writeFile(path.join(root, "etc/selinux.d/apache.cil"), "(block apache)\n");
    seKernel = new FakeKernel();
    const p = selinux("apache");
    const r = await reconcile(
      { desired: want(p), approvals: [approve(p)], installed: [] },
      deps({ kernel: { AppArmorProfile: aaKernel, SelinuxProfile: seKernel } }),
    );
    expect(r.statuses).toMatchObject([{ state: "Error", reason: "WriteFailed" }]);
    const del = await reconcile(
      { desired: [{ object: p, deleting: true }], approvals: [], installed: [] },
      deps({ kernel: { AppArmorProfile: aaKernel, SelinuxProfile: seKernel } }),
    );
    expect(del.statuses).toMatchObject([{ state: "Terminating", reason: "RemoveFailed" }]);
    expect(await readFile(path.join(root, "etc/selinux.d/apache.cil"), "utf8")).toBe("(block apache)\n");
    expect(seKernel.calls).toEqual([]);
  });

  it("refuses to overwrite a distribution AppArmor profile of the same name", async () => {
    await mkdir(path.join(root, "etc/apparmor.d"), { recursive: true });
    await writeFile(path.join(root, "etc/apparmor.d/usr.bin.man"), "# distro\n");
    const p = apparmor("usr.bin.man");
    const r = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r.statuses).toMatchObject([{ state: "Error", reason: "WriteFailed" }]);
    expect(await readFile(path.join(root, "etc/apparmor.d/usr.bin.man"), "utf8")).toBe("# distro\n");
    expect(aaKernel.calls).toEqual([]);
  });

  it("a symlink on the path is a write error, not a write elsewhere", async () => {
    const outside = path.join(base, "outside");
    await mkdir(outside);
    await mkdir(path.join(root, "var/lib/kubelet/seccomp/operator"), { recursive: true });
    await symlink(outside, path.join(root, "var/lib/kubelet/seccomp/operator/shop"));
    const p = seccomp("web");
    const r = await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps());
    expect(r.statuses).toMatchObject([
      { state: "Error", reason: "WriteFailed", message: expect.stringMatching(/symlink/) },
    ]);
    expect(await readdir(outside)).toEqual([]);
  });
});

describe("deletion", () => {
  async function installed(p: ProfileObject): Promise<InstalledEntry[]> {
    return (await reconcile({ desired: want(p), approvals: [approve(p)], installed: [] }, deps())).installed;
  }

  it("a profile still used by a pod stays Terminating with its file until the pod is gone", async () => {
    const p = seccomp("web");
    const inst = await installed(p);
    users.set("web", ["shop/web-0", "shop/web-1"]);
    for (let i = 0; i < 3; i++) {
      const r = await reconcile({ desired: [], approvals: [approve(p)], installed: inst }, deps());
      expect(r.statuses).toMatchObject([
        { state: "Terminating", reason: "InUse", activeWorkloads: ["shop/web-0", "shop/web-1"] },
      ]);
      expect(r.installed).toEqual(inst);
      expect(await readFile(seccompPath("web"), "utf8")).toContain("read");
    }
    users.set("web", []);
    const r = await reconcile({ desired: [], approvals: [approve(p)], installed: inst }, deps());
    expect(r.statuses).toEqual([]);
    expect(r.removed).toMatchObject([{ kind: "SeccompProfile", name: "web", removed: true }]);
    expect(r.installed).toEqual([]);
    expect(await readdir(path.dirname(seccompPath("web")))).toEqual([]);
  });

  it("a deleting object (deletionTimestamp) goes through the same flow, and AppArmor is unloaded first", async () => {
    const p = apparmor("web");
    const inst = await installed(p);
    expect(aaKernel.loaded.has("web")).toBe(true);
    const r = await reconcile(
      { desired: [{ object: p, deleting: true }], approvals: [approve(p)], installed: inst },
      deps(),
    );
    expect(r.removed).toMatchObject([{ name: "web", removed: true }]);
    expect(aaKernel.calls).toEqual(["load web", "unload web"]);
    expect(seen.map((s) => `${s.state}/${s.reason}`)).toContain("Terminating/Removing");
    expect(await readdir(path.join(root, "etc/apparmor.d"))).toEqual([]);
  });

  it("never removes a file it did not install", async () => {
    await mkdir(path.join(root, "etc/apparmor.d"), { recursive: true });
    await writeFile(path.join(root, "etc/apparmor.d/usr.bin.man"), "# distro\n");
    const r = await reconcile(
      { desired: [{ object: apparmor("usr.bin.man"), deleting: true }], approvals: [], installed: [] },
      deps(),
    );
    expect(r.statuses).toMatchObject([{ state: "Terminating", reason: "RemoveFailed" }]);
    expect(await readFile(path.join(root, "etc/apparmor.d/usr.bin.man"), "utf8")).toBe("# distro\n");
  });
});
