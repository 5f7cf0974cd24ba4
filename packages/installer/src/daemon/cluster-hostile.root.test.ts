import { execFileSync } from "node:child_process";
import { mkdtemp, open, readdir, readFile, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ApprovalRecord, ProfileObject } from "@secprof/core";
import {
  eventually,
  type FakeApiServer,
  installerKinds,
  type KObject,
  missing,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostWriter } from "../host-writer.js";
import { AppArmorKernel, SelinuxKernel } from "../kernel.js";
import { profileDigest } from "../render.js";
import { ClusterInstaller } from "./cluster.js";
import { approvalObject, nodeStatusName } from "./kube-objects.js";
import { memoryManifest } from "./manifest-store.js";

/**
 * The cluster installer on a full filesystem (a 256 KiB tmpfs as the host root): the write of a
 * new approved version fails with ENOSPC, the old file stays byte for byte, no temp file is left,
 * and the reason reaches the ProfileNodeStatus and the profile's aggregated status; once space is
 * back the next reconcile installs the new version.
 */

const skip = missing("root");
const API = "security-profiles-operator.x-k8s.io/v1";
const NODE = "tmpfs-node";

describe.skipIf(skip !== undefined)(
  `cluster installer on a full filesystem${skip ? ` (${skip})` : ""}`,
  () => {
    let api: FakeApiServer;
    let mnt: string;
    let writer: HostWriter;
    let installer: ClusterInstaller;

    beforeAll(async () => {
      mnt = await mkdtemp(path.join(tmpdir(), "secprof-cluster-full-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", mnt]);
      api = await startFakeApiServer({
        kinds: [...spoKinds({ profilesNamespaced: false, versions: ["v1"] }), ...installerKinds()],
      });
      writer = await HostWriter.open({ root: mnt, seccompLayout: "cluster" });
      installer = new ClusterInstaller({
        kubeConfig: api.kubeConfig("installer"),
        node: NODE,
        writer,
        manifest: memoryManifest(),
        reconcileDeps: {
          kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() },
        },
        debounceMs: 10,
        resyncMs: 200,
      });
      await installer.start();
    });

    afterAll(async () => {
      await installer?.stop();
      await writer?.close();
      await api?.close();
      if (mnt !== undefined) {
        execFileSync("umount", [mnt]);
        await rm(mnt, { recursive: true, force: true });
      }
    });

    const seccomp = (names: string[]): KObject => ({
      apiVersion: API,
      kind: "SeccompProfile",
      metadata: { name: "web" },
      spec: {
        defaultAction: "SCMP_ACT_ERRNO",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
      },
    });
    const approve = (p: KObject) => {
      const r: ApprovalRecord = {
        kind: "SeccompProfile",
        name: "web",
        digest: profileDigest(p as ProfileObject),
        approvedBy: "alice",
        approvedAt: new Date().toISOString(),
      };
      api.put(approvalObject(r) as KObject);
    };
    const status = () =>
      (
        api.get(API, "ProfileNodeStatus", nodeStatusName(NODE, { kind: "SeccompProfile", name: "web" })) as
          | { status?: { state?: string; message?: string } }
          | undefined
      )?.status;

    it("keeps the old file and reports ENOSPC; installs once space is back", async () => {
      const v1 = seccomp(["read", "write", "exit_group"]);
      api.put(v1);
      approve(v1);
      const file = path.join(mnt, "var/lib/kubelet/seccomp/operator/web.json");
      await eventually(() => expect(status()?.state).toBe("Installed"), 10_000);
      const before = await readFile(file, "utf8");

      // Fill the filesystem to the last byte.
      const filler = path.join(mnt, "filler");
      const fh = await open(filler, "w");
      const chunk = Buffer.alloc(4096, 1);
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
      }
      try {
        for (;;) await fh.write(Buffer.alloc(1, 1));
      } catch {}
      await fh.close();

      const v2 = seccomp(["read", "write", "exit_group", "openat", "close", "mmap", "brk"]);
      api.put({ ...(api.get(API, "SeccompProfile", "web") as KObject), spec: v2.spec });
      approve(v2);
      await eventually(() => expect(status()?.state).toBe("Error"), 10_000);
      expect(status()?.message).toMatch(
        /^WriteFailed: .*no space left on device.*installed version .* stays in place/,
      );
      expect(await readFile(file, "utf8")).toBe(before);
      expect(await readdir(path.dirname(file))).toEqual(["web.json"]); // no temp file left
      await eventually(
        () =>
          expect((api.get(API, "SeccompProfile", "web")?.status as { status?: string })?.status).toBe(
            "Error",
          ),
        10_000,
      );

      await unlink(filler);
      await eventually(() => expect(status()?.state).toBe("Installed"), 10_000);
      expect(await readFile(file, "utf8")).toContain("openat");
    });
  },
);
