import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CgroupContainer,
  classifyProcCgroup,
  parseCgroupLines,
  parseProcCgroup,
  parseStatusContainerId,
} from "./cgroup-path.js";

const ID = "3f4e8f1c9a0b2d7e6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170645";
const ID2 = "9b1e6d2f0c3a4b5e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";
const UID = "5c3d9f7e-2b1a-4c8d-9e0f-1a2b3c4d5e6f";
const UID_ = UID.replaceAll("-", "_");
const STATIC_UID = "e3c6ec1f4d5d8a8d4e0f1a2b3c4d5e6f"; // static pods: md5 hex, no dashes

/** A v1 file the way the kernel prints it (one line per hierarchy, highest id first) plus `0::`. */
function v1(path: string, v2path = "/"): string {
  const ctl = ["name=systemd", "pids", "blkio", "freezer", "devices", "memory", "cpuset", "cpu,cpuacct"];
  return [...ctl.map((c, i) => `${ctl.length - i}:${c}:${path}`), `0::${v2path}`].join("\n");
}
const v2 = (path: string) => `0::${path}\n`;

type Row = [name: string, text: string, want: CgroupContainer | undefined];

// Each shape: where it comes from is in cgroup-path.ts's table; lines below are what the kernel
// prints for a process placed there.
const ROWS: Row[] = [
  // containerd, kubelet cgroupfs driver: containerd joins cgroup_parent and the id.
  [
    "containerd cgroupfs v1 burstable",
    v1(`/kubepods/burstable/pod${UID}/${ID}`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "burstable" },
  ],
  [
    "containerd cgroupfs v2 besteffort",
    v2(`/kubepods/besteffort/pod${UID}/${ID}`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "besteffort" },
  ],
  [
    "containerd cgroupfs guaranteed (pod directly under kubepods)",
    v2(`/kubepods/pod${UID}/${ID}`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "guaranteed" },
  ],
  [
    "static pod (32-hex uid)",
    v2(`/kubepods/burstable/pod${STATIC_UID}/${ID}`),
    { containerId: ID, runtime: "containerd", podUid: STATIC_UID, qos: "burstable" },
  ],
  // containerd, systemd driver: `<pod slice>:cri-containerd:<id>` → runc `cri-containerd-<id>.scope`.
  [
    "containerd systemd v2",
    v2(
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    ),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "burstable" },
  ],
  [
    "containerd systemd v1 (name=systemd and controllers)",
    v1(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    ),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "besteffort" },
  ],
  [
    "containerd systemd guaranteed",
    v2(`/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "guaranteed" },
  ],
  [
    "kind node (kubelet cgroup root /kubelet, inside the node's docker scope)",
    v2(
      `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    ),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "besteffort" },
  ],
  [
    "reader in a private cgroup namespace (/../ prefix)",
    v2(`/../../kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "besteffort" },
  ],
  [
    "crun payload sub-cgroup (systemd driver, v2)",
    v2(
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope/container`,
    ),
    { containerId: ID, runtime: "cri-o", podUid: UID, qos: "burstable" },
  ],
  [
    "zombie in a removed v2 cgroup",
    v2(`/kubepods/besteffort/pod${UID}/${ID} (deleted)`),
    { containerId: ID, runtime: "containerd", podUid: UID, qos: "besteffort" },
  ],
  // CRI-O: cgroupfs `<parent>/crio-<id>`, systemd `crio-<id>.scope`.
  [
    "CRI-O cgroupfs v1 (SPO's example)",
    v1(`/kubepods/besteffort/pod${UID}/crio-${ID}`),
    { containerId: ID, runtime: "cri-o", podUid: UID, qos: "besteffort" },
  ],
  [
    "CRI-O systemd v2",
    v2(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`),
    { containerId: ID, runtime: "cri-o", podUid: UID, qos: "besteffort" },
  ],
  // docker: cgroupfs `/docker/<id>`, systemd `system.slice:docker:<id>`.
  ["docker cgroupfs v1", v1(`/docker/${ID}`), { containerId: ID, runtime: "docker" }],
  ["docker systemd v2", v2(`/system.slice/docker-${ID}.scope`), { containerId: ID, runtime: "docker" }],
  [
    "docker-in-docker: innermost wins",
    v1(`/docker/${ID2}/docker/${ID}`),
    { containerId: ID, runtime: "docker" },
  ],
  [
    "cri-dockerd systemd in a pod",
    v2(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope`),
    { containerId: ID, runtime: "docker", podUid: UID, qos: "burstable" },
  ],
  // podman: systemd `libpod-<id>.scope`, cgroupfs `<parent>/libpod-<id>`.
  ["podman systemd (root)", v2(`/machine.slice/libpod-${ID}.scope`), { containerId: ID, runtime: "podman" }],
  [
    "podman rootless with crun's container sub-cgroup",
    v2(`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`),
    { containerId: ID, runtime: "podman" },
  ],
  ["podman cgroupfs", v1(`/libpod_parent/libpod-${ID}`), { containerId: ID, runtime: "podman" }],
  [
    "podman --cgroups=split payload",
    v2(`/user.slice/foo.scope/libpod-payload-${ID}`),
    { containerId: ID, runtime: "podman" },
  ],
  // containerd outside Kubernetes.
  ["nerdctl systemd", v2(`/system.slice/nerdctl-${ID}.scope`), { containerId: ID, runtime: "containerd" }],
  [
    "containerd CRI without kubelet (k8s.io parent)",
    v2(`/k8s.io/${ID}`),
    { containerId: ID, runtime: "containerd" },
  ],
  ["bare id under an unknown parent", v2(`/actions_job/${ID}`), { containerId: ID, runtime: "unknown" }],
  // Monitors and host processes: not a container.
  [
    "CRI-O conmon, conmon_cgroup=pod",
    v2(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    ),
    undefined,
  ],
  ["CRI-O conmon, system.slice", v2(`/system.slice/crio-conmon-${ID}.scope`), undefined],
  ["CRI-O conmon cgroupfs", v1(`/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`), undefined],
  ["podman conmon systemd", v2(`/machine.slice/libpod-conmon-${ID}.scope`), undefined],
  ["podman conmon cgroupfs", v1(`/libpod_parent/conmon`), undefined],
  ["CRI-O daemon", v2("/system.slice/crio.service"), undefined],
  ["host shell", v2("/user.slice/user-0.slice/session-3.scope"), undefined],
  ["pod cgroup itself (no container)", v2(`/kubepods/besteffort/pod${UID}`), undefined],
  ["hybrid root", v1("/"), undefined],
  ["32-hex is not a container id", v1("/process_api/f607c7b6b334f27fd1799e1cfd955a1e"), undefined],
  ["uppercase hex is not a container id", v2(`/docker/${ID.toUpperCase()}`), undefined],
  ["63 hex digits", v2(`/docker/${ID.slice(1)}`), undefined],
  ["mount unit", v2(`/system.slice/run-containerd-${ID}-rootfs.mount`), undefined],
  ["empty", "", undefined],
];

describe("parseProcCgroup: every shape", () => {
  it.each(ROWS)("%s", (_name, text, want) => {
    expect(parseProcCgroup(text)).toEqual(want);
  });

  it("reads the container from v1 lines when the v2 line is the root (hybrid mode)", () => {
    // As on this VM's hybrid hierarchy before runc joined unified; the first matching line decides.
    const text = `4:memory:/process_api/f607c7b6b334f27fd1799e1cfd955a1e/kubepods/besteffort/pod${UID}/${ID}\n1:cpu:/\n0::/\n`;
    expect(parseProcCgroup(text)).toEqual({
      containerId: ID,
      runtime: "containerd",
      podUid: UID,
      qos: "besteffort",
    });
  });

  it("takes the pod uid only from the container's direct parent", () => {
    const nested = v2(`/kubepods/besteffort/pod${UID}/${ID2}/docker/${ID}`);
    expect(parseProcCgroup(nested)).toEqual({ containerId: ID, runtime: "docker" });
  });

  it("tells a conmon monitor apart from a host process", () => {
    expect(classifyProcCgroup(v2(`/system.slice/crio-conmon-${ID}.scope`))).toEqual({
      kind: "monitor",
      containerId: ID,
      runtime: "cri-o",
    });
    expect(classifyProcCgroup(v2("/system.slice/crio.service"))).toEqual({ kind: "none" });
  });

  it("tolerates CRLF, blank lines, junk lines and colons inside the path", () => {
    const text = `garbage\r\n\r\n12:cpu:relative\n1:name=systemd:/a:b:c/docker/${ID}\r\n`;
    expect(parseProcCgroup(text)).toEqual({ containerId: ID, runtime: "docker" });
    expect(parseCgroupLines(text)).toEqual([
      { hierarchy: 1, controllers: ["name=systemd"], path: `/a:b:c/docker/${ID}` },
    ]);
  });
});

describe("parseStatusContainerId", () => {
  it.each([
    [`containerd://${ID}`, { runtime: "containerd", containerId: ID }],
    [`cri-o://${ID}`, { runtime: "cri-o", containerId: ID }],
    [`docker://${ID}`, { runtime: "docker", containerId: ID }],
    [ID, { runtime: "unknown", containerId: ID }],
    ["containerd://", undefined],
    ["", undefined],
  ])("%s", (value, want) => {
    expect(parseStatusContainerId(value)).toEqual(want);
  });
});

// --- properties -------------------------------------------------------------------------------

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
const uuid = fc.uuid().map((u) => u.toLowerCase());

/** Pieces real files are made of, so random input lands near the real shapes. */
const fragment = fc.oneof(
  fc.constantFrom(
    "/",
    ":",
    "0::",
    "1:name=systemd:",
    "kubepods",
    "kubepods.slice",
    "kubepods-burstable-pod",
    ".slice",
    ".scope",
    "cri-containerd-",
    "crio-",
    "crio-conmon-",
    "libpod-",
    "libpod-conmon-",
    "docker-",
    "docker",
    "pod",
    "_",
    "-",
    "..",
    " (deleted)",
    "\n",
    "\r",
  ),
  hex(64),
  hex(32),
  uuid,
  fc.string({ maxLength: 8 }),
);

describe("properties", () => {
  it("never throws, and anything it returns is well-formed", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.array(fragment, { maxLength: 60 }).map((a) => a.join("")),
        ),
        (text) => {
          const r = parseProcCgroup(text);
          if (r === undefined) return;
          expect(r.containerId).toMatch(/^[0-9a-f]{64}$/);
          if (r.podUid !== undefined)
            expect(r.podUid).toMatch(/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$|^[0-9a-f]{32}$/);
          expect(text).toContain(r.containerId);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("never throws on non-string input", () => {
    for (const v of [undefined, null, 42, {}, []])
      expect(parseProcCgroup(v as unknown as string)).toBeUndefined();
  });

  it("recovers id, runtime, pod uid and QoS from any generated kubelet path", () => {
    const shape = fc.record({
      id: hex(64),
      uid: uuid,
      qos: fc.constantFrom("guaranteed", "burstable", "besteffort"),
      driver: fc.constantFrom("cgroupfs", "systemd"),
      runtime: fc.constantFrom("containerd", "cri-o"),
      root: fc.constantFrom("", "kubelet"),
      version: fc.constantFrom("v1", "v2"),
    });
    fc.assert(
      fc.property(shape, (s) => {
        let path: string;
        if (s.driver === "cgroupfs") {
          const leaf = s.runtime === "cri-o" ? `crio-${s.id}` : s.id;
          const qosDir = s.qos === "guaranteed" ? "" : `/${s.qos}`;
          path = `${s.root ? `/${s.root}` : ""}/kubepods${qosDir}/pod${s.uid}/${leaf}`;
        } else {
          const p = s.root ? `${s.root}-` : "";
          const u = s.uid.replaceAll("-", "_");
          const leaf = s.runtime === "cri-o" ? `crio-${s.id}.scope` : `cri-containerd-${s.id}.scope`;
          const root = s.root ? `/${s.root}.slice` : "";
          path =
            s.qos === "guaranteed"
              ? `${root}/${p}kubepods.slice/${p}kubepods-pod${u}.slice/${leaf}`
              : `${root}/${p}kubepods.slice/${p}kubepods-${s.qos}.slice/${p}kubepods-${s.qos}-pod${u}.slice/${leaf}`;
        }
        const text = s.version === "v1" ? v1(path) : v2(path);
        expect(parseProcCgroup(text)).toEqual({
          containerId: s.id,
          runtime: s.runtime,
          podUid: s.uid,
          qos: s.qos,
        });
      }),
      { numRuns: 500 },
    );
  });
});
