import {
  type AvcEvent,
  type Observation,
  type PodContainerRef,
  ProfileRecording,
  type SendResult,
} from "@secprof/core";
import { describe, expect, it } from "vitest";
import type { Attribution } from "../attribution/resolver.js";
import { DeltaBatcher } from "../queue/delta-batcher.js";
import { auditFactKey, RecorderCore, type RecorderQueue } from "./recorder-core.js";

const recording = (name: string, kind: string, recorder: string) =>
  ProfileRecording.parse({
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileRecording",
    metadata: { name, namespace: "shop" },
    spec: { kind, recorder, podSelector: { matchLabels: { app: "web" } } },
  });

const pod: PodContainerRef = {
  namespace: "shop",
  pod: "web",
  podUid: "uid-web",
  container: "app",
  containerId: "cid",
  kind: "regular",
};

class Queue implements RecorderQueue {
  readonly sent: Observation[] = [];
  async send(obs: Observation): Promise<SendResult> {
    this.sent.push(obs);
    return { ok: true };
  }
  async sendMany(obs: readonly Observation[]): Promise<SendResult[]> {
    return Promise.all(obs.map((o) => this.send(o)));
  }
  pending(): number {
    return 0;
  }
  async close(): Promise<void> {}
}

function coreWith(recordings: ProfileRecording[]) {
  const queue = new Queue();
  const core = new RecorderCore(
    "node-1",
    {
      recordings: () => recordings,
      podFacts: () => ({
        namespaceLabels: { "spo.x-k8s.io/enable-recording": "true" },
        labels: { app: "web" },
        containers: ["app"],
      }),
      generateName: () => undefined,
    },
    new DeltaBatcher({ recorder: "node-1" }),
    queue,
  );
  return { core, queue };
}

const avc = (over: Partial<AvcEvent>): AvcEvent => ({
  source: "auditd",
  ts: 1,
  auditId: "1.0:1",
  pid: 42,
  comm: "nginx",
  exe: null,
  ses: null,
  mntns: null,
  kind: "avc",
  denied: true,
  perms: ["read"],
  tclass: "file",
  scontext: "system_u:system_r:selinuxrecording.process:s0",
  tcontext: "system_u:object_r:etc_t:s0",
  permissive: true,
  userSpace: false,
  ...over,
});

describe("RecorderCore", () => {
  it("sends kernel AVC denials of SelinuxProfile Logs targets, not granted or user-space ones", async () => {
    const { core, queue } = coreWith([recording("se", "SelinuxProfile", "Logs")]);
    const a = { pod } as Attribution;
    core.onAuditEvent(avc({}), a);
    core.onAuditEvent(avc({ denied: false, tcontext: "u:r:granted_t:s0" }), a);
    core.onAuditEvent(avc({ userSpace: true, tcontext: "u:r:dbus_t:s0" }), a);
    core.onAuditEvent(avc({ tcontext: "no-type" }), a);
    await core.flush();
    expect(queue.sent.map((o) => [o.target.kind, o.delta.avc])).toEqual([
      [
        "SelinuxProfile",
        [
          {
            scontextType: "selinuxrecording.process",
            tcontextType: "etc_t",
            tclass: "file",
            perms: ["read"],
          },
        ],
      ],
    ]);
  });

  it("sends eBPF AppArmor facts to AppArmorProfile Bpf targets only, and syscalls to seccomp ones", async () => {
    const { core, queue } = coreWith([
      recording("aa", "AppArmorProfile", "Bpf"),
      recording("sc", "SeccompProfile", "Bpf"),
    ]);
    expect(core.wantsBpfAppArmor(pod)).toBe(true);
    core.onBpfAppArmor(
      pod,
      {
        executables: ["/bin/sh"],
        libraries: ["/opt/x.so"],
        readPaths: ["/etc/hosts"],
        writePaths: [],
        capabilities: [],
        network: ["tcp"],
      },
      3,
    );
    core.onBpfSyscall(pod, "x86_64", "read");
    await core.flush();
    const byRec = new Map(queue.sent.map((o) => [o.target.recording, o]));
    expect(byRec.get("aa")?.delta).toEqual({
      syscalls: {},
      avc: [],
      apparmor: {
        executables: ["/bin/sh"],
        libraries: ["/opt/x.so"],
        readPaths: ["/etc/hosts"],
        writePaths: [],
        capabilities: [],
        network: ["tcp"],
      },
    });
    expect(byRec.get("aa")?.loss.truncated).toBe(3);
    expect(byRec.get("sc")?.delta).toEqual({ syscalls: { x86_64: ["read"] }, avc: [] });
    expect(coreWith([recording("sc", "SeccompProfile", "Bpf")]).core.wantsBpfAppArmor(pod)).toBe(false);
  });
});

describe("auditFactKey", () => {
  it("ignores when and by which pid an event happened, and nothing else", () => {
    const base = avc({});
    expect(auditFactKey(avc({ ts: 99, auditId: "99.0:7", pid: 7 }))).toBe(auditFactKey(base));
    expect(auditFactKey(avc({ perms: ["write"] }))).not.toBe(auditFactKey(base));
    expect(auditFactKey(avc({ tcontext: "system_u:object_r:shadow_t:s0" }))).not.toBe(auditFactKey(base));
    expect(auditFactKey(avc({ denied: false }))).not.toBe(auditFactKey(base));
  });
});
