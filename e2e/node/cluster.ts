import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { TRACE_SECCOMP } from "@secprof/core";
import { runcBundle } from "@secprof/recorder";
import {
  type FakeApiServer,
  installerKinds,
  reportRunning,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { run, until } from "./procs.js";

/** Longest a workload container may run (the slowest takes a few seconds on a loaded 2-CPU machine). */
const CONTAINER_LIMIT_MS = 90_000;

export const GROUP = "security-profiles-operator.x-k8s.io";
export const NODE = "node1";

export type Pod = Awaited<ReturnType<CoreV1Api["createNamespacedPod"]>>;
export type ProfileItem = {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { defaultAction?: string; syscalls?: { names: string[]; action?: string }[] };
};

/** The trace profile the webhook puts on Logs-recorded containers (installed on each node). */
export { TRACE_SECCOMP };

export interface RecordingSpec {
  app: string;
  /** Default SeccompProfile. */
  kind?: "SeccompProfile" | "SelinuxProfile" | "AppArmorProfile";
  mergeStrategy?: "None" | "Containers";
  recorder?: "Logs" | "Bpf";
}

/**
 * The cluster side of a simulated node: the fake API server (real REST + watch protocol) and the
 * calls a user or the kubelet would make against it; pods' containers are real runc containers.
 */
export class SimCluster {
  private constructor(
    readonly api: FakeApiServer,
    readonly core: CoreV1Api,
    readonly custom: CustomObjectsApi,
    /** A kubeconfig file for the daemons. */
    readonly kubeconfig: string,
  ) {}

  static async start(dir: string): Promise<SimCluster> {
    const api = await startFakeApiServer({
      kinds: [...spoKinds({ profilesNamespaced: false }), ...installerKinds()],
    });
    const kc = api.kubeConfig("admin");
    const kubeconfig = path.join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kc.exportConfig());
    return new SimCluster(api, kc.makeApiClient(CoreV1Api), kc.makeApiClient(CustomObjectsApi), kubeconfig);
  }

  /** A kubeconfig file like `kubeconfig` whose server is `url` (e.g. a proxy in front of the API server). */
  kubeconfigVia(url: string, file: string): string {
    const cfg = JSON.parse(this.api.kubeConfig("admin").exportConfig()) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of cfg.clusters) c.cluster.server = url;
    writeFileSync(file, JSON.stringify(cfg));
    return file;
  }

  close(): Promise<void> {
    return this.api.close();
  }

  /** A namespace opted in to recording. */
  async namespace(name: string): Promise<void> {
    await this.core.createNamespace({
      body: { metadata: { name, labels: { "spo.x-k8s.io/enable-recording": "true" } } },
    });
  }

  createRecording(namespace: string, name: string, spec: RecordingSpec): Promise<void> {
    return createRecording(this.custom, namespace, name, spec);
  }

  async deleteRecording(namespace: string, name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: "v1",
      namespace,
      plural: "profilerecordings",
      name,
    });
  }

  /** The pod object as a client would submit it: on node1, one container `app`; `name` ending in `-` is a generateName. */
  static podBody(name: string, app: string, node = NODE): Pod {
    const metadata = name.endsWith("-") ? { generateName: name } : { name };
    return {
      metadata: { ...metadata, labels: { app } },
      spec: { nodeName: node, containers: [{ name: "app", image: "host" }] },
    };
  }

  /** Reports the pod's container `app` running as `containerd://<id>` (what the kubelet does after starting it). */
  reportRunning(pod: Pod, id: string): Promise<void> {
    return reportRunning(this.core, pod, id);
  }

  async createPod(
    namespace: string,
    name: string,
    app: string,
    body = SimCluster.podBody(name, app),
  ): Promise<Pod> {
    return this.core.createNamespacedPod({ namespace, body });
  }

  async setPhase(pod: Pod, phase: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    const live = await this.core.readNamespacedPod({ namespace, name });
    await this.core.replaceNamespacedPodStatus({
      namespace,
      name,
      body: { ...live, status: { ...live.status, phase } },
    });
  }

  async listProfiles(labels: Record<string, string> = {}): Promise<ProfileItem[]> {
    const labelSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const list = (await this.custom.listClusterCustomObject({
      group: GROUP,
      version: "v1",
      plural: "seccompprofiles",
      ...(labelSelector === "" ? {} : { labelSelector }),
    })) as { items: ProfileItem[] };
    return list.items;
  }

  profileNamed(name: string, timeoutMs = 45_000): Promise<ProfileItem> {
    return until(
      `the SeccompProfile ${name}`,
      async () => (await this.listProfiles()).find((p) => p.metadata.name === name),
      timeoutMs,
    );
  }

  /**
   * Starts the pod's container `app` under runc in kubelet's cgroup layout, after reporting its
   * container id in the pod's status (as the kubelet does before the process gets busy). Returns
   * the runc run (resolves when the container exits) and the runc container id.
   */
  startContainer(pod: Pod, script: string, seccomp: unknown = TRACE_SECCOMP): Promise<PodContainer> {
    return startPodContainer(this.core, pod, script, seccomp);
  }
}

/** A pod's container under runc: its runc id, and its run (resolves when the container exits). */
export interface PodContainer {
  runcId: string;
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/**
 * Starts the pod's container `app` under runc in kubelet's cgroup layout (seccomp: the profile to
 * enforce, undefined for none), after reporting its container id in the pod's status as the kubelet
 * does before the process gets busy.
 */
export async function startPodContainer(
  core: CoreV1Api,
  pod: Pod,
  script: string,
  seccomp: unknown,
): Promise<PodContainer> {
  const uid = pod.metadata?.uid ?? randomUUID();
  const id = randomBytes(32).toString("hex");
  const bundle = await runcBundle(["/bin/sh", "-c", script], {
    seccomp,
    cgroupsPath: `/kubepods/besteffort/pod${uid}/${id}`,
    id: `e2e-${id.slice(0, 12)}`,
  });
  try {
    await reportRunning(core, pod, id);
    await new Promise((r) => setTimeout(r, 1000));
  } catch (err) {
    await bundle.cleanup();
    throw err;
  }
  // A workload stuck under a profile that lacks a syscall it needs (e.g. a shell spinning on EPERM)
  // must fail the test, not hang it: the container's init ignores runc's forwarded SIGTERM.
  const limit = setTimeout(() => void run("runc", ["kill", bundle.id, "KILL"]), CONTAINER_LIMIT_MS);
  const done = run("runc", ["run", "--bundle", bundle.dir, bundle.id], CONTAINER_LIMIT_MS + 10_000).finally(
    () => {
      clearTimeout(limit);
      return bundle.cleanup();
    },
  );
  return { runcId: bundle.id, done };
}

/** Creates a v1 ProfileRecording selecting the pods labelled `app` (as a user applies one). */
export async function createRecording(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: RecordingSpec,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: "v1",
    namespace,
    plural: "profilerecordings",
    body: {
      apiVersion: `${GROUP}/v1`,
      kind: "ProfileRecording",
      metadata: { name },
      spec: {
        kind: spec.kind ?? "SeccompProfile",
        recorder: spec.recorder ?? "Logs",
        podSelector: { matchLabels: { app: spec.app } },
        ...(spec.mergeStrategy === undefined ? {} : { mergeStrategy: spec.mergeStrategy }),
      },
    },
  });
}
