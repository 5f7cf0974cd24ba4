import { readFileSync } from "node:fs";
import { request } from "node:https";
import path from "node:path";
import { jsonPatch } from "@secprof/testkit";
import type { Pod } from "./cluster.js";

/**
 * What the API server does with a mutating webhook: sends the pod in an AdmissionReview v1 over
 * HTTPS (trusting the webhook's CA) and applies the JSONPatch it answers with.
 */
export async function admit(
  port: number,
  ca: string,
  namespace: string,
  pod: Pod,
): Promise<{ pod: Pod; warnings: string[]; patched: boolean }> {
  const review = {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: `review-${Date.now()}`, operation: "CREATE", namespace, object: pod },
  };
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/mutate-v1-pod-recording",
        method: "POST",
        ca,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`webhook ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(review));
  });
  const { response } = JSON.parse(text) as {
    response: { allowed: boolean; patch?: string; warnings?: string[] };
  };
  if (!response.allowed) throw new Error(`webhook denied the pod: ${text}`);
  const patched = response.patch !== undefined;
  const ops: unknown = patched ? JSON.parse(Buffer.from(response.patch ?? "", "base64").toString()) : [];
  return { pod: jsonPatch(pod, ops) as Pod, warnings: response.warnings ?? [], patched };
}

/** The kubelet's seccomp directory under a host root. */
export const seccompDir = (hostRoot: string): string => path.join(hostRoot, "var/lib/kubelet/seccomp");

/**
 * The seccomp profile the kubelet would hand to the runtime for the pod's first container:
 * `Localhost` profiles are read from `<root>/var/lib/kubelet/seccomp/<localhostProfile>`; none
 * (undefined) runs the container unconfined.
 */
export function containerSeccomp(pod: Pod, hostRoot: string): unknown {
  const sp =
    pod.spec?.containers[0]?.securityContext?.seccompProfile ?? pod.spec?.securityContext?.seccompProfile;
  if (sp === undefined) return undefined;
  if (sp.type !== "Localhost" || sp.localhostProfile === undefined)
    throw new Error(`pod ${pod.metadata?.name}: no Localhost seccomp profile (${JSON.stringify(sp)})`);
  return JSON.parse(readFileSync(path.join(seccompDir(hostRoot), sp.localhostProfile), "utf8"));
}

/** The pod body with its container pinned to a Localhost seccomp profile (relative to the kubelet's seccomp dir). */
export function withLocalhostProfile(pod: Pod, localhostProfile: string): Pod {
  const c = pod.spec?.containers[0];
  if (pod.spec === undefined || c === undefined) throw new Error("pod without a container");
  return {
    ...pod,
    spec: {
      ...pod.spec,
      containers: [{ ...c, securityContext: { seccompProfile: { type: "Localhost", localhostProfile } } }],
    },
  };
}
