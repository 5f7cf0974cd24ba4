import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { approvalDigestInput, type ProfileObject } from "@secprof/core";
import { eventually, missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { LocalApprovalStore } from "../local-approvals.js";
import { profileDigest } from "../render.js";
import { ApplyClient } from "./client.js";

/**
 * The privilege split with real processes (built dist/, `npm run build` first):
 * init-main.js as root → apply-main.js as root → main.js (single-host) spawned with
 * setuid/setgid 65534. The unprivileged daemon writes the seccomp file itself and hands the
 * AppArmor profile to installer-apply; it cannot write /etc/apparmor.d directly, and
 * installer-apply refuses what it must not install.
 */

const UID = 65534;
const dist = (f: string) => fileURLToPath(new URL(`../../dist/${f}`, import.meta.url));
const API = "security-profiles-operator.x-k8s.io/v1";
const skip = missing("root");

const seccomp: ProfileObject = {
  apiVersion: API,
  kind: "SeccompProfile",
  metadata: { name: "web" },
  spec: {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" }],
  },
};
const apparmor: ProfileObject = {
  apiVersion: API,
  kind: "AppArmorProfile",
  metadata: { name: "web-aa" },
  spec: { mode: "Enforce", abstract: { filesystem: { readOnlyPaths: ["/etc/hostname"] } } },
} as ProfileObject;

const until = (check: () => unknown, ms = 60_000) => eventually(check, ms);

describe.skipIf(skip !== undefined)(`installer privilege split${skip ? ` (${skip})` : ""}`, () => {
  let base: string;
  let root: string;
  let socket: string;
  let stateFile: string;
  let applyProc: ChildProcess | undefined;
  let daemon: ChildProcess | undefined;
  let daemonLog = "";
  let applyLog = "";

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), "secprof-split-"));
    await chmod(base, 0o755);
    root = path.join(base, "host");
    for (const d of ["etc/apparmor.d", "etc/selinux.d"])
      await mkdir(path.join(root, d), { recursive: true, mode: 0o755 });
    socket = path.join(base, "run", "apply.sock");
    stateFile = path.join(base, "state", "install-state.json");
    const profiles = path.join(base, "profiles");
    await mkdir(profiles, { mode: 0o755 });
    await writeFile(path.join(profiles, "web.yaml"), stringify(seccomp), { mode: 0o644 });
    await writeFile(path.join(profiles, "web-aa.yaml"), stringify(apparmor), { mode: 0o644 });
    const store = new LocalApprovalStore(LocalApprovalStore.defaultPath(profiles));
    for (const p of [seccomp, apparmor])
      await store.approve(
        { kind: p.kind, name: p.metadata.name },
        profileDigest(p),
        "alice",
        new Date(),
        approvalDigestInput(p),
      );
    await chmod(path.dirname(store.file), 0o755); // readable, not writable, by the installer uid

    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      SECPROF_HOST_ROOT: root,
      SECPROF_SECCOMP_LAYOUT: "cluster",
      SECPROF_INSTALLER_UID: String(UID),
      SECPROF_INSTALLER_GID: String(UID),
      SECPROF_APPLY_SOCKET: socket,
      SECPROF_STATE_FILE: stateFile,
    };
    const init = spawnSync(process.execPath, [dist("init-main.js")], { env, encoding: "utf8" });
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
    expect(init.stdout).toContain(`operator -> ${UID}:${UID} 0755`);

    applyProc = spawn(process.execPath, [dist("apply-main.js")], { env, stdio: ["ignore", "pipe", "pipe"] });
    applyProc.stdout?.on("data", (d: Buffer) => {
      applyLog += d.toString();
    });
    applyProc.stderr?.on("data", (d: Buffer) => {
      applyLog += d.toString();
    });
    await until(() => stat(socket));
    daemon = spawn(process.execPath, [dist("main.js")], {
      uid: UID,
      gid: UID,
      env: {
        ...env,
        HOME: "/nonexistent",
        SECPROF_MODE: "single-host",
        NODE_NAME: "split-node",
        SECPROF_PROFILE_DIR: profiles,
        SECPROF_METRICS_PORT: "0",
        SECPROF_METRICS_HOST: "127.0.0.1",
        SECPROF_RESYNC_MS: "300",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    daemon.stdout?.on("data", (d: Buffer) => {
      daemonLog += d.toString();
    });
    daemon.stderr?.on("data", (d: Buffer) => {
      daemonLog += d.toString();
    });
  }, 120_000);

  afterAll(async () => {
    daemon?.kill("SIGKILL");
    applyProc?.kill("SIGKILL");
    if (base !== undefined) await rm(base, { recursive: true, force: true });
  });

  it("init hands only the operator directory and the socket directory over", async () => {
    const op = await stat(path.join(root, "var/lib/kubelet/seccomp/operator"));
    expect([op.uid, op.gid, op.mode & 0o777]).toEqual([UID, UID, 0o755]);
    const parent = await stat(path.join(root, "var/lib/kubelet/seccomp"));
    expect(parent.uid).toBe(0);
    const run = await stat(path.dirname(socket));
    expect([run.uid, run.gid, run.mode & 0o777]).toEqual([0, UID, 0o750]);
    const aa = await stat(path.join(root, "etc/apparmor.d"));
    expect(aa.uid).toBe(0);
  });

  it("the daemon runs as uid 65534 with no capabilities and installs both kinds through the split", async () => {
    const pid = daemon?.pid;
    expect(pid).toBeDefined();
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, "m"));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, "m"));
    expect(status).toMatch(/^CapEff:\s+0+$/m);

    const seccompFile = path.join(root, "var/lib/kubelet/seccomp/operator/web.json");
    const aaFile = path.join(root, "etc/apparmor.d/web-aa");
    try {
      await until(async () => {
        await stat(seccompFile);
        await stat(aaFile);
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\ndaemon log:\n${daemonLog}`);
    }
    expect((await stat(seccompFile)).uid).toBe(UID); // written by the unprivileged daemon
    expect((await stat(aaFile)).uid).toBe(0); // written by installer-apply
    expect(await readFile(aaFile, "utf8")).toContain("profile web-aa");
    await until(async () => {
      const state = JSON.parse(await readFile(stateFile, "utf8")) as {
        roots: Record<string, { statuses: { name: string; state: string; message: string }[] }>;
      };
      const statuses = Object.values(state.roots)[0]?.statuses ?? [];
      expect(statuses.find((s) => s.name === "web")?.state).toBe("Installed");
      const aa = statuses.find((s) => s.name === "web-aa");
      expect(aa?.state, aa?.message).toBe("Installed");
      expect(aa?.message).toMatch(/not loaded: (no AppArmor in this kernel|AppArmor is disabled)/);
    });
  });

  it("the unprivileged uid cannot write the AppArmor directory itself", () => {
    const r = spawnSync(
      process.execPath,
      ["-e", `require("fs").writeFileSync(${JSON.stringify(path.join(root, "etc/apparmor.d/evil"))}, "x")`],
      { uid: UID, gid: UID, encoding: "utf8" },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("EACCES");
  });

  it("installer-apply refuses unmarked text, bad names, non-compiling text and seccomp", async () => {
    const client = new ApplyClient(socket);
    await expect(
      client.request({ op: "write", kind: "AppArmorProfile", name: "evil", text: "profile evil {}\n" }),
    ).rejects.toThrow(/refused: the text does not carry secprof's mark/);
    const marked = (await readFile(path.join(root, "etc/apparmor.d/web-aa"), "utf8")).split("\n")[0] ?? "";
    await expect(
      client.request({
        op: "write",
        kind: "AppArmorProfile",
        name: "evil",
        text: `${marked}\nprofile evil { garbage }\n`,
      }),
    ).rejects.toThrow(/refused: does not compile/);
    // The daemon's own AppArmor write went through installer-apply (logged there, as root).
    expect(applyLog).toMatch(/"op":"write","kind":"AppArmorProfile","msg":"applied"/);
    await expect(
      client.request({ op: "write", kind: "AppArmorProfile", name: "../../etc/passwd", text: marked }),
    ).rejects.toThrow(/refused/);
    await expect(
      client.request(JSON.parse('{"op":"write","kind":"SeccompProfile","name":"x","text":"{}"}')),
    ).rejects.toThrow(/refused/);
    // A file secprof did not write is never replaced or removed.
    await writeFile(path.join(root, "etc/apparmor.d/distro"), "# distribution profile\n");
    await expect(client.request({ op: "remove", kind: "AppArmorProfile", name: "distro" })).rejects.toThrow(
      /not written by secprof/,
    );
    expect(await readFile(path.join(root, "etc/apparmor.d/distro"), "utf8")).toBe("# distribution profile\n");
  });
});
