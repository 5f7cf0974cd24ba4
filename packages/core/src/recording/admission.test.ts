import { describe, expect, it } from "vitest";
import { ProfileRecording } from "../schemas/recording.js";
import { mutatePod, TRACE_SECCOMP_PROFILE } from "./admission.js";

const rec = (name: string, spec: Record<string, unknown>) =>
  ProfileRecording.parse({
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileRecording",
    metadata: { name, namespace: "shop" },
    spec: { kind: "SeccompProfile", recorder: "Logs", podSelector: { matchLabels: { app: "web" } }, ...spec },
  });
const ns = { "spo.x-k8s.io/enable-recording": "true" };
const pod = (extra: Record<string, unknown> = {}) => ({
  metadata: { generateName: "web-", labels: { app: "web" } },
  spec: { containers: [{ name: "nginx", ...extra }] },
});

describe("mutating webhook (pure part)", () => {
  it("puts Logs-recorded containers under the trace seccomp profile and annotates the pod", () => {
    const m = mutatePod([rec("web-rec", {})], ns, pod());
    expect(m.recordings).toEqual(["web-rec"]);
    expect(m.patch).toEqual([
      { op: "add", path: "/metadata/annotations", value: { "secprof.x-k8s.io/recording.nginx": "web-rec" } },
      {
        op: "add",
        path: "/spec/containers/0/securityContext",
        value: { seccompProfile: { type: "Localhost", localhostProfile: TRACE_SECCOMP_PROFILE } },
      },
    ]);
  });
  it("changes no securityContext for Bpf recordings", () => {
    const m = mutatePod([rec("web-rec", { recorder: "Bpf" })], ns, pod());
    expect(m.recordings).toEqual(["web-rec"]);
    expect(m.patch).toEqual([]);
  });
  it("warns on privileged containers and on overwritten security contexts", () => {
    const m = mutatePod(
      [rec("r", {})],
      ns,
      pod({ securityContext: { privileged: true, seccompProfile: { type: "RuntimeDefault" } } }),
    );
    expect(m.warnings.join("\n")).toMatch(/privileged/);
    expect(m.warnings.join("\n")).toMatch(/seccompProfile is replaced/);
  });
  it("leaves pods it does not select alone", () => {
    expect(mutatePod([rec("r", {})], {}, pod()).patch).toEqual([]);
    expect(mutatePod([rec("r", { podSelector: { matchLabels: { app: "db" } } })], ns, pod()).patch).toEqual(
      [],
    );
  });
  it("uses the permissive SELinux type for SELinux Logs recordings", () => {
    const m = mutatePod([rec("r", { kind: "SelinuxProfile" })], ns, pod());
    expect(m.patch[1]?.value).toEqual({ seLinuxOptions: { type: "selinuxrecording.process" } });
  });
});
