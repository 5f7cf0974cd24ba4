/**
 * Which container a process belongs to, read from the text of `/proc/<pid>/cgroup`.
 *
 * Pure and total: every function here returns a value for any input and never throws.
 *
 * Shapes recognised (the last path segment that names a container wins, so nested setups such
 * as docker-in-docker or kind resolve to the innermost container). Sources:
 *
 * | shape | driver | source |
 * |---|---|---|
 * | `…/kubepods/<qos>/pod<uid>/<id>` | containerd, cgroupfs | containerd `getCgroupsPath`: `filepath.Join(cgroupsParent, id)`; kubelet `pod<uid>` + QoS dirs |
 * | `…/kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope` | containerd, systemd | containerd `getCgroupsPath`: `<slice>:cri-containerd:<id>`; runc expands `slice:prefix:name` to `prefix-name.scope` |
 * | `…/pod<uid>/crio-<id>` | CRI-O, cgroupfs | CRI-O `CgroupfsManager.ContainerCgroupPath`: `filepath.Join(parent, "crio-"+id)` |
 * | `…/kubepods-…-pod<uid_>.slice/crio-<id>.scope` | CRI-O, systemd | CRI-O `SystemdManager.ContainerCgroupAbsolutePath`: `crio-<id>.scope` |
 * | `crio-conmon-<id>[.scope]` | CRI-O conmon | CRI-O `conmon_cgroup` ("pod" or `system.slice`); conmon is the monitor, **not** the container |
 * | `/docker/<id>` | docker, cgroupfs | dockerd default cgroup parent `/docker`, leaf = container id |
 * | `/system.slice/docker-<id>.scope` | docker, systemd | dockerd `system.slice:docker:<id>` |
 * | `libpod-<id>.scope`, `/libpod_parent/libpod-<id>` | podman | podman: `libpod-<id>.scope` (systemd), `<parent>/libpod-<id>` (cgroupfs) |
 * | `libpod-conmon-<id>.scope`, `/libpod_parent/conmon` | podman conmon | podman `conmonScopeUnit` / `conmonCgroupfsPath`; not the container |
 * | `libpod-payload-<id>` | podman `--cgroups=split` | podman docs for `--cgroups=split` |
 * | `nerdctl-<id>.scope` | containerd (nerdctl), systemd | nerdctl's systemd cgroup naming |
 *
 * Trailing non-container segments after the container segment are ignored: crun puts the payload
 * in `<scope>/container` on cgroup v2 with the systemd driver, and systemd-in-a-container adds
 * its own `init.scope`/`system.slice` below. A pod uid is taken only from the container's direct
 * parent (`pod<uid>` or `…-pod<uid_with_underscores>.slice`, kubelet's `cgroup_manager_linux.go`
 * escapes `-` as `_` in systemd unit names) and is returned with dashes. Static pods have a 32-hex
 * uid (md5 of the manifest) instead of a UUID; both are accepted.
 *
 * Also handled: `(deleted)` suffix (cgroup v2, removed cgroup of a zombie), `/../` prefixes (a
 * reader in another cgroup namespace), `:` inside paths (only the first two colons separate), the
 * cgroup-root prefixes kind and `--cgroup-root` add (`kubelet.slice/kubelet-kubepods.slice/…`).
 */

export type ContainerRuntime = "containerd" | "cri-o" | "docker" | "podman" | "unknown";
export type QosClass = "guaranteed" | "burstable" | "besteffort";

export interface CgroupContainer {
  /** 64 lowercase hex digits, as the runtime and the pod status (`containerd://<id>`) spell it. */
  containerId: string;
  /**
   * Runtime inferred from the naming. A bare `<id>` under a kubelet pod cgroup is reported as
   * `containerd`, but cri-dockerd with the cgroupfs driver lays out the same path: the pod
   * index's `containerID` scheme is authoritative.
   */
  runtime: ContainerRuntime;
  /** Pod uid with dashes (kubelet's systemd form uses underscores), when the parent is a pod cgroup. */
  podUid?: string;
  qos?: QosClass;
}

export type CgroupClassification =
  | { kind: "container"; container: CgroupContainer }
  /** A container monitor (conmon): belongs to a container's lifecycle, but is not its workload. */
  | { kind: "monitor"; containerId: string | undefined; runtime: ContainerRuntime }
  | { kind: "none" };

export interface CgroupLine {
  /** Hierarchy id: 0 for the cgroup v2 unified hierarchy. */
  hierarchy: number;
  /** v1 controllers (`cpu`, `cpuacct`, `name=systemd`); empty for v2. */
  controllers: string[];
  path: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID = "([0-9a-f]{64})";

/** Segment name → runtime, tried in order (conmon before the plain prefix it shares). */
const SEGMENTS: readonly { re: RegExp; runtime: ContainerRuntime; monitor?: true }[] = [
  { re: new RegExp(`^cri-containerd-${ID}\\.scope$`), runtime: "containerd" },
  { re: new RegExp(`^crio-conmon-${ID}(?:\\.scope)?$`), runtime: "cri-o", monitor: true },
  { re: new RegExp(`^crio-${ID}(?:\\.scope)?$`), runtime: "cri-o" },
  { re: new RegExp(`^docker-${ID}\\.scope$`), runtime: "docker" },
  { re: new RegExp(`^libpod-conmon-${ID}(?:\\.scope)?$`), runtime: "podman", monitor: true },
  { re: new RegExp(`^libpod-(?:payload-)?${ID}(?:\\.scope)?$`), runtime: "podman" },
  { re: new RegExp(`^nerdctl-${ID}\\.scope$`), runtime: "containerd" },
  // Any other `<prefix>-<id>.scope` (runc's systemd naming for an unknown manager); SPO takes
  // any 64-hex run, so this keeps parity without accepting `.mount`/`.service` units.
  { re: new RegExp(`^[a-z][a-z0-9_]*-${ID}\\.scope$`), runtime: "unknown" },
];

const UUID_ANY = /^[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}$|^[0-9a-f]{32}$/;
/** kubelet cgroupfs pod dir: `pod<uid>`. */
const POD_DIR = /^pod([0-9a-f_-]{32,36})$/;
/** kubelet systemd pod slice: `[<root>-]kubepods[-<qos>]-pod<uid_>.slice`. */
const POD_SLICE = /^(?:[a-z0-9_.-]*-)?kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]{32,36})\.slice$/;

function normaliseUid(raw: string): string | undefined {
  if (!UUID_ANY.test(raw)) return undefined;
  return raw.replaceAll("_", "-");
}

function qosFromDir(seg: string | undefined): QosClass | undefined {
  if (seg === "burstable" || seg === "besteffort") return seg;
  if (seg === "kubepods") return "guaranteed";
  return undefined;
}

/** Pod uid and QoS from the cgroup directly above a container segment. */
function podOf(segs: readonly string[], parentIdx: number): { podUid?: string; qos?: QosClass } {
  const parent = segs[parentIdx];
  if (parent === undefined) return {};
  const dir = POD_DIR.exec(parent);
  if (dir?.[1] !== undefined) {
    const uid = normaliseUid(dir[1]);
    if (uid === undefined) return {};
    const qos = qosFromDir(segs[parentIdx - 1]);
    return qos === undefined ? { podUid: uid } : { podUid: uid, qos };
  }
  const slice = POD_SLICE.exec(parent);
  if (slice?.[2] !== undefined) {
    const uid = normaliseUid(slice[2]);
    if (uid === undefined) return {};
    const qos: QosClass = slice[1] === "burstable" || slice[1] === "besteffort" ? slice[1] : "guaranteed";
    return { podUid: uid, qos };
  }
  return {};
}

function bareRuntime(segs: readonly string[], idx: number, hasPod: boolean): ContainerRuntime {
  if (hasPod) return "containerd";
  const parent = segs[idx - 1];
  if (parent === "docker") return "docker";
  if (parent === "libpod_parent") return "podman";
  if (parent === "k8s.io") return "containerd";
  return "unknown";
}

function withPod(
  containerId: string,
  runtime: ContainerRuntime,
  pod: { podUid?: string; qos?: QosClass },
): CgroupContainer {
  const c: CgroupContainer = { containerId, runtime };
  if (pod.podUid !== undefined) c.podUid = pod.podUid;
  if (pod.qos !== undefined) c.qos = pod.qos;
  return c;
}

/** Classifies one cgroup path (the part after the second `:`). */
export function classifyCgroupPath(path: string): CgroupClassification {
  if (typeof path !== "string" || path.length === 0 || path.length > 4096) return { kind: "none" };
  const clean = path.endsWith(" (deleted)") ? path.slice(0, -" (deleted)".length) : path;
  const segs = clean.split("/").filter((s) => s !== "" && s !== "." && s !== "..");
  for (let i = segs.length - 1; i >= 0; i--) {
    const seg = segs[i] ?? "";
    if (seg.length < 64) {
      // podman cgroupfs conmon: `<parent>/conmon` next to `<parent>/libpod-<id>`.
      if (seg === "conmon" && segs[i - 1] === "libpod_parent")
        return { kind: "monitor", containerId: undefined, runtime: "podman" };
      continue;
    }
    if (HEX64.test(seg)) {
      const pod = podOf(segs, i - 1);
      return {
        kind: "container",
        container: withPod(seg, bareRuntime(segs, i, pod.podUid !== undefined), pod),
      };
    }
    for (const s of SEGMENTS) {
      const m = s.re.exec(seg);
      const id = m?.[1];
      if (id === undefined) continue;
      if (s.monitor === true) return { kind: "monitor", containerId: id, runtime: s.runtime };
      return { kind: "container", container: withPod(id, s.runtime, podOf(segs, i - 1)) };
    }
  }
  return { kind: "none" };
}

/**
 * Splits `/proc/<pid>/cgroup` into lines. Malformed lines are skipped; the path keeps any `:`
 * after the second one.
 */
export function parseCgroupLines(text: string): CgroupLine[] {
  if (typeof text !== "string") return [];
  const out: CgroupLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const a = line.indexOf(":");
    if (a <= 0) continue;
    const b = line.indexOf(":", a + 1);
    if (b < 0) continue;
    const idText = line.slice(0, a);
    if (!/^\d{1,6}$/.test(idText)) continue;
    const path = line.slice(b + 1);
    if (!path.startsWith("/")) continue;
    const ctl = line.slice(a + 1, b);
    out.push({ hierarchy: Number(idText), controllers: ctl === "" ? [] : ctl.split(","), path });
  }
  return out;
}

/**
 * Classifies a whole `/proc/<pid>/cgroup`: the first line (in file order) whose path names a
 * container or a monitor decides, as in SPO (§2.3: "first line that has any match"). A process's
 * hierarchies agree in practice; lines that name nothing (`0::/` in hybrid mode when the runtime
 * did not join the unified hierarchy, a controller the runtime does not manage) are skipped.
 */
export function classifyProcCgroup(text: string): CgroupClassification {
  for (const line of parseCgroupLines(text)) {
    const c = classifyCgroupPath(line.path);
    if (c.kind !== "none") return c;
  }
  return { kind: "none" };
}

/** The container a process runs in, or undefined for host processes, monitors and garbage. */
export function parseProcCgroup(text: string): CgroupContainer | undefined {
  const c = classifyProcCgroup(text);
  return c.kind === "container" ? c.container : undefined;
}

/** Pod status `containerID` (`containerd://<id>`, `cri-o://<id>`, `docker://<id>`) → bare id. */
export function parseStatusContainerId(
  value: string,
): { runtime: ContainerRuntime; containerId: string } | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^([a-z0-9-]+):\/\/([0-9a-f]{64})$/.exec(value);
  if (m?.[1] === undefined || m[2] === undefined)
    return HEX64.test(value) ? { runtime: "unknown", containerId: value } : undefined;
  const scheme = m[1];
  const runtime: ContainerRuntime =
    scheme === "containerd"
      ? "containerd"
      : scheme === "cri-o"
        ? "cri-o"
        : scheme === "docker"
          ? "docker"
          : scheme === "podman"
            ? "podman"
            : "unknown";
  return { runtime, containerId: m[2] };
}
