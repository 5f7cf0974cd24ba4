import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { HostFile } from "./host-writer.js";
import { AppArmorKernel, type CommandRunner, LoadError, SelinuxKernel, selinuxModuleName } from "./kernel.js";
import { podListUsage } from "./usage.js";

const seccompFile: HostFile = {
  area: "seccomp",
  dirs: [],
  file: "web.json",
  fileMode: 0o644,
  dirMode: 0o755,
  path: "/x",
  localhostProfile: "operator/shop/web.json",
};

function pod(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { metadata: { name, namespace: "shop", ...extra }, spec, status: { phase: "Running" } };
}

describe("workload usage", () => {
  it("finds pods using a profile at pod or container level, by annotation, and ignores finished pods", async () => {
    const pods = [
      pod("a", {
        securityContext: {
          seccompProfile: { type: "Localhost", localhostProfile: "operator/shop/web.json" },
        },
      }),
      pod("b", {
        containers: [
          {
            name: "c",
            securityContext: {
              seccompProfile: { type: "Localhost", localhostProfile: "operator/shop/web.json" },
            },
          },
        ],
      }),
      pod(
        "c",
        {},
        {
          annotations: {
            "container.seccomp.security.alpha.kubernetes.io/c": "localhost/operator/shop/web.json",
          },
        },
      ),
      pod("d", {
        securityContext: {
          seccompProfile: { type: "Localhost", localhostProfile: "operator/shop/other.json" },
        },
      }),
      {
        ...pod("e", {
          securityContext: {
            seccompProfile: { type: "Localhost", localhostProfile: "operator/shop/web.json" },
          },
        }),
        status: { phase: "Succeeded" },
      },
      pod("f", { initContainers: [{ securityContext: { seLinuxOptions: { type: "web.process" } } }] }),
      pod("g", {
        containers: [
          { securityContext: { appArmorProfile: { type: "Localhost", localhostProfile: "web" } } },
        ],
      }),
      { garbage: true },
    ];
    const u = podListUsage(async () => pods);
    expect(await u.usersOf({ kind: "SeccompProfile", namespace: "shop", name: "web" }, seccompFile)).toEqual([
      "shop/a",
      "shop/b",
      "shop/c",
    ]);
    expect(
      await u.usersOf({ kind: "SelinuxProfile", name: "web" }, { ...seccompFile, area: "selinux" }),
    ).toEqual(["shop/f"]);
    expect(
      await u.usersOf({ kind: "AppArmorProfile", name: "web" }, { ...seccompFile, area: "apparmor" }),
    ).toEqual(["shop/g"]);
  });
});

describe("kernel ports", () => {
  it("AppArmor: availability from sysfs; load with -r on stdin; failures carry the parser's output", async () => {
    const sys = await mkdtemp(path.join(tmpdir(), "secprof-sys-"));
    try {
      const calls: [string, readonly string[], string | undefined][] = [];
      let code = 0;
      const run: CommandRunner = async (cmd, args, stdin) => {
        calls.push([cmd, args, stdin]);
        return { code, stdout: "", stderr: code === 0 ? "" : "AppArmor parser error at line 2" };
      };
      const k = new AppArmorKernel({ sysfs: sys, run });
      expect(await k.unavailable()).toBe("no AppArmor in this kernel");
      await mkdir(path.join(sys, "module/apparmor/parameters"), { recursive: true });
      await writeFile(path.join(sys, "module/apparmor/parameters/enabled"), "N\n");
      expect(await k.unavailable()).toBe("AppArmor is disabled in this kernel");
      await writeFile(path.join(sys, "module/apparmor/parameters/enabled"), "Y\n");
      // Enabled, but securityfs not writable (a container without privileges): not loadable here.
      expect(await k.unavailable()).toMatch(/^AppArmor is enabled but .*\.replace is not writable here$/);
      await mkdir(path.join(sys, "kernel/security/apparmor"), { recursive: true });
      await writeFile(path.join(sys, "kernel/security/apparmor/.replace"), "");
      expect(await k.unavailable()).toBeUndefined();
      await k.load("web", "profile web {}");
      expect(calls[0]).toEqual(["apparmor_parser", ["-r", "-W"], "profile web {}"]);
      code = 1;
      await expect(k.load("web", "x")).rejects.toThrow(LoadError);
      await expect(k.unload("web", "x")).rejects.toThrow(/line 2/);
    } finally {
      await rm(sys, { recursive: true, force: true });
    }
  });

  it("SELinux: modules are secprof-<name>; trusts only semodule -l after semodule -i", async () => {
    let listed = "";
    const calls: (readonly string[])[] = [];
    const run: CommandRunner = async (_cmd, args) => {
      calls.push(args);
      return args[0] === "-l" ? { code: 0, stdout: listed, stderr: "" } : { code: 0, stdout: "", stderr: "" };
    };
    const k = new SelinuxKernel({ sysfs: "/nonexistent", run });
    expect(await k.unavailable()).toBe("SELinux is not enabled");
    // A module called like the profile (here: refpolicy's own `web`) is not ours.
    listed = "container\nweb\n";
    await expect(k.load("web", "(block web)")).rejects.toThrow(/does not list secprof-web/);
    listed = "container\nweb\nsecprof-web\n";
    calls.length = 0;
    await k.load("web", "(block web)");
    expect(calls[0]?.[0]).toBe("-i");
    expect(path.basename(calls[0]?.[1] ?? "")).toBe("secprof-web.cil");
    await k.unload("web");
    expect(calls.at(-1)).toEqual(["-r", "secprof-web"]);
  });

  it("SELinux: a profile named like a refpolicy module gets its own module; dotted names work", async () => {
    const calls: (readonly string[])[] = [];
    const run: CommandRunner = async (_cmd, args) => {
      calls.push(args);
      return { code: 0, stdout: "apache\nsecprof-apache\nsecprof-web.v2\n", stderr: "" };
    };
    const k = new SelinuxKernel({ sysfs: "/nonexistent", run });
    await k.load("apache", "(block apache)");
    await k.load("web.v2", "(block web)");
    await k.unload("apache");
    expect(calls.map((a) => (a[0] === "-i" ? `-i ${path.basename(a[1] ?? "")}` : a.join(" ")))).toEqual([
      "-i secprof-apache.cil",
      "-l",
      "-i secprof-web.v2.cil",
      "-l",
      "-r secprof-apache",
    ]);
    expect(selinuxModuleName("web.v2")).toBe("secprof-web.v2");
    // Names libsemanage would refuse (or that are not file names) never reach a tool.
    calls.length = 0;
    for (const bad of ["a..b", "a.", "../x", "a/b", "a b", ""])
      await expect(k.load(bad, "x")).rejects.toThrow(LoadError);
    await expect(k.unload("a/b")).rejects.toThrow(/cannot name an SELinux module/);
    expect(calls).toEqual([]);
  });
});
