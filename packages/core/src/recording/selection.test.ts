import { describe, expect, it } from "vitest";
import { ProfileRecording } from "../schemas/recording.js";
import { labelSelectorMatches, select } from "./selection.js";

const rec = (spec: Record<string, unknown>) =>
  ProfileRecording.parse({
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "ProfileRecording",
    metadata: { name: "web-rec", namespace: "shop" },
    spec: { kind: "SeccompProfile", recorder: "Bpf", podSelector: { matchLabels: { app: "web" } }, ...spec },
  });
const pod = {
  namespaceLabels: { "spo.x-k8s.io/enable-recording": "" },
  labels: { app: "web", tier: "fe" },
  containers: ["init", "nginx", "sidecar"],
};

describe("ProfileRecording selection", () => {
  it("selects all containers of a matching pod in an opted-in namespace", () => {
    expect(select(rec({}), pod)).toEqual({ selected: true, containers: ["init", "nginx", "sidecar"] });
  });
  it("honours containers, the namespace opt-in and the selector", () => {
    expect(select(rec({ containers: ["nginx"] }), pod)).toEqual({ selected: true, containers: ["nginx"] });
    expect(select(rec({}), { ...pod, namespaceLabels: {} })).toMatchObject({
      selected: false,
      reason: "namespace_not_enabled",
    });
    expect(select(rec({ podSelector: { matchLabels: { app: "db" } } }), pod)).toMatchObject({
      reason: "selector_mismatch",
    });
    expect(select(rec({ containers: ["other"] }), pod)).toMatchObject({ reason: "no_container" });
  });
  it("rejects SELinux with the Bpf recorder with a reason", () => {
    expect(select(rec({ kind: "SelinuxProfile" }), pod)).toMatchObject({ reason: "invalid_recording" });
  });
  it("rejects AppArmor with the Logs recorder with a reason (SPO: Bpf only)", () => {
    expect(select(rec({ kind: "AppArmorProfile", recorder: "Logs" }), pod)).toMatchObject({
      reason: "invalid_recording",
    });
    expect(select(rec({ kind: "AppArmorProfile", recorder: "Bpf" }), pod)).toMatchObject({ selected: true });
  });
  it("accepts v1alpha1's lowercase enums unchanged", () => {
    const r = rec({ recorder: "bpf", mergeStrategy: "containers" });
    expect(r.spec.recorder).toBe("Bpf");
    expect(r.spec.mergeStrategy).toBe("Containers");
  });
  it("implements matchExpressions", () => {
    const labels = { app: "web", tier: "fe" };
    expect(
      labelSelectorMatches(
        { matchExpressions: [{ key: "tier", operator: "In", values: ["fe", "be"] }] },
        labels,
      ),
    ).toBe(true);
    expect(
      labelSelectorMatches(
        { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["fe"] }] },
        labels,
      ),
    ).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: "x", operator: "DoesNotExist" }] }, labels)).toBe(
      true,
    );
    expect(labelSelectorMatches({ matchExpressions: [{ key: "x", operator: "Exists" }] }, labels)).toBe(
      false,
    );
    expect(labelSelectorMatches({}, labels)).toBe(true);
  });
});
