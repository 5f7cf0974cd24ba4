import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  ApprovalObject,
  approvalObject,
  approvalObjectName,
  approvedSnapshot,
  nodeFinalizer,
  nodeStatusBody,
  nodeStatusName,
} from "./kube-objects.js";

const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
const FINALIZER_NAME = /^[a-z0-9.-]+\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

describe("installer object names and shapes", () => {
  it("approval objects are named readably, or by hash when that would not be a valid name", () => {
    expect(approvalObjectName({ kind: "SeccompProfile", name: "web" })).toBe("seccomp.web");
    expect(approvalObjectName({ kind: "AppArmorProfile", namespace: "shop", name: "web" })).toBe(
      "apparmor.shop.web",
    );
    const long = approvalObjectName({ kind: "SelinuxProfile", name: "a".repeat(250) });
    expect(long).toMatch(/^selinux\.[0-9a-f]{40}$/);
    // Different profiles never share an object.
    expect(approvalObjectName({ kind: "SeccompProfile", name: "b".repeat(250) })).not.toBe(
      approvalObjectName({ kind: "SeccompProfile", name: "c".repeat(250) }),
    );
  });

  it("per-node names and finalizers are valid for any node name", () => {
    expect(nodeFinalizer("node-a")).toBe("installer.secprof.io/node-a");
    const long = nodeFinalizer(`${"n".repeat(100)}.example.com`);
    expect(long).toMatch(FINALIZER_NAME);
    expect(long.split("/")[1]?.length).toBeLessThanOrEqual(63);
    const a = nodeStatusName("node-a", { kind: "SeccompProfile", name: "web" });
    expect(a).toMatch(/^seccomp\.[0-9a-f]{32}$/);
    expect(nodeStatusName("node-b", { kind: "SeccompProfile", name: "web" })).not.toBe(a);
  });

  it("an approved-content annotation that does not match the digest is ignored", () => {
    const snapshot = 'secprof-approval/v1\n{"kind":"SeccompProfile"}';
    const record = {
      kind: "SeccompProfile" as const,
      name: "web",
      digest: sha(snapshot) as `sha256:${string}`,
      approvedBy: "alice",
      approvedAt: "2026-01-01T00:00:00.000Z",
    };
    const ok = ApprovalObject.parse(approvalObject(record, snapshot));
    expect(approvedSnapshot(ok)).toBe(snapshot);
    const tampered = ApprovalObject.parse(approvalObject(record, `${snapshot} `));
    expect(approvedSnapshot(tampered)).toBeUndefined();
    expect(ApprovalObject.safeParse(approvalObject({ ...record, approvedBy: "eve\nforged" })).success).toBe(
      false,
    );
  });

  it("node status bodies fit the CRD and do not flip between 'installed' and 'up to date'", () => {
    const s = {
      kind: "SeccompProfile" as const,
      name: "web",
      node: "n",
      state: "Installed" as const,
      reason: "Installed" as const,
      message: "up to date sha256:abc… at /x",
      updatedAt: "2026-01-01T00:00:00.000Z",
    };
    expect(nodeStatusBody(s).message).toBe("Installed: installed sha256:abc… at /x");
    expect(nodeStatusBody({ ...s, message: "installed sha256:abc… at /x" })).toEqual(nodeStatusBody(s));
    const long = nodeStatusBody({ ...s, state: "Error", reason: "Invalid", message: "x".repeat(10_000) });
    expect(long.message.length).toBe(4096);
  });
});
