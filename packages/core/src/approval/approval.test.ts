import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { ProfileObject } from "../ports/profile-store.js";
import { approvalDiff, formatApprovalDiff } from "./diff.js";
import { APPROVAL_DIGEST_DOMAIN, approvalDigestInput, profileRefOf, sortedJson } from "./digest.js";
import { ApprovalRecord, parseProfileRef, profileRefKey } from "./schema.js";
import { approvalVerdict, currentApproval } from "./verdict.js";

const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

function seccomp(names: string[], extra: Record<string, unknown> = {}): ProfileObject {
  return {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SeccompProfile",
    metadata: { name: "web", ...extra },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  } as ProfileObject;
}

describe("approval digest input", () => {
  it("is stable under key order, a YAML round trip and bookkeeping metadata", () => {
    const a = seccomp(["read", "write"]);
    const reordered = JSON.parse(
      '{"spec":{"syscalls":[{"action":"SCMP_ACT_ALLOW","names":["read","write"]}],"architectures":["SCMP_ARCH_X86_64"],"defaultAction":"SCMP_ACT_ERRNO"},"metadata":{"name":"web"},"kind":"SeccompProfile","apiVersion":"security-profiles-operator.x-k8s.io/v1"}',
    ) as ProfileObject;
    const roundTrip = parse(stringify(a)) as ProfileObject;
    const annotated = seccomp(["read", "write"], {
      annotations: { "x/y": "z" },
      labels: { a: "b" },
      resourceVersion: "42",
      uid: "u",
    });
    const withStatus = { ...a, status: { status: "Installed" } } as ProfileObject;
    const base = approvalDigestInput(a);
    expect(base.startsWith(APPROVAL_DIGEST_DOMAIN)).toBe(true);
    for (const p of [reordered, roundTrip, annotated, withStatus]) expect(approvalDigestInput(p)).toBe(base);
  });

  it("changes with any rule, the state, the name or the namespace", () => {
    const base = approvalDigestInput(seccomp(["read", "write"]));
    expect(approvalDigestInput(seccomp(["read", "write", "execve"]))).not.toBe(base);
    expect(approvalDigestInput(seccomp(["write", "read"]))).not.toBe(base);
    expect(approvalDigestInput(seccomp(["read", "write"], { namespace: "shop" }))).not.toBe(base);
    const disabled = seccomp(["read", "write"]);
    (disabled.spec as { state?: string }).state = "Disabled";
    expect(approvalDigestInput(disabled)).not.toBe(base);
    const renamed = seccomp(["read", "write"]);
    renamed.metadata.name = "web2";
    expect(approvalDigestInput(renamed)).not.toBe(base);
  });

  it("makes defaults explicit, so an omitted default equals the spelled-out one", () => {
    const implicit = {
      apiVersion: "security-profiles-operator.x-k8s.io/v1",
      kind: "SelinuxProfile",
      metadata: { name: "x" },
      spec: { allow: { "@self": { tcp_socket: ["listen"] } } },
    } as unknown as ProfileObject;
    const explicit = {
      ...implicit,
      spec: {
        inherit: [{ kind: "System", name: "container" }],
        mode: "Enforcing",
        allow: { "@self": { tcp_socket: ["listen"] } },
      },
    } as ProfileObject;
    expect(approvalDigestInput(implicit)).toBe(approvalDigestInput(explicit));
  });

  it("drops unknown spec fields (no renderer reads them) and rejects invalid profiles", () => {
    const extra = seccomp(["read"]);
    (extra.spec as Record<string, unknown>).bogus = 1;
    expect(approvalDigestInput(extra)).toBe(approvalDigestInput(seccomp(["read"])));
    const bad = seccomp(["read"]);
    (bad.spec as { defaultAction: string }).defaultAction = "NOPE";
    expect(() => approvalDigestInput(bad)).toThrow();
  });

  it("sortedJson sorts keys at every depth and keeps array order", () => {
    expect(sortedJson({ b: [{ d: 1, c: 2 }], a: undefined, c: null })).toBe('{"b":[{"c":2,"d":1}],"c":null}');
  });
});

describe("profile references", () => {
  it("parses KIND/NAME and KIND/NAMESPACE/NAME with aliases", () => {
    expect(parseProfileRef("seccomp/web")).toEqual({ kind: "SeccompProfile", name: "web" });
    expect(parseProfileRef("AppArmorProfile/shop/web")).toEqual({
      kind: "AppArmorProfile",
      namespace: "shop",
      name: "web",
    });
    expect(parseProfileRef("aa/web")).toEqual({ kind: "AppArmorProfile", name: "web" });
  });

  it.each([
    "web",
    "seccomp/",
    "nope/web",
    "seccomp/../x",
    "seccomp/a/b/c",
    "seccomp/.hidden",
    "seccomp/Web",
    "seccomp/a\0b",
  ])("rejects %j", (s) => {
    expect(typeof parseProfileRef(s)).toBe("string");
  });

  it("keys cluster-scoped and namespaced profiles apart", () => {
    expect(profileRefKey({ kind: "SeccompProfile", name: "a" })).not.toBe(
      profileRefKey({ kind: "SeccompProfile", namespace: "default", name: "a" }),
    );
    expect(profileRefOf(seccomp(["read"], { namespace: "shop" }))).toEqual({
      kind: "SeccompProfile",
      namespace: "shop",
      name: "web",
    });
  });
});

describe("approval records and verdicts", () => {
  const ref = { kind: "SeccompProfile" as const, name: "web" };
  const d1 = sha("one");
  const d2 = sha("two");
  const rec = (digest: string, extra: Partial<ApprovalRecord> = {}): ApprovalRecord =>
    ApprovalRecord.parse({
      ...ref,
      digest,
      approvedBy: "alice",
      approvedAt: "2025-01-01T00:00:00.000Z",
      ...extra,
    });

  it("validates records at the boundary", () => {
    expect(() => rec("sha256:abc")).toThrow();
    expect(() => rec(d1, { approvedBy: "eve\nforged line" })).toThrow();
    expect(() => rec(d1, { approvedAt: "yesterday" })).toThrow();
    expect(() => ApprovalRecord.parse({ ...rec(d1), name: "../x" })).toThrow();
  });

  it("approves only the latest unrevoked digest of the same profile", () => {
    expect(approvalVerdict([], ref, d1)).toMatchObject({ approved: false, why: "never" });
    expect(approvalVerdict([rec(d1)], ref, d1)).toMatchObject({ approved: true });
    expect(approvalVerdict([rec(d1)], ref, d2)).toMatchObject({ approved: false, why: "changed" });
    // A newer approval supersedes: going back to d1 needs a new approval.
    expect(approvalVerdict([rec(d1), rec(d2)], ref, d1)).toMatchObject({ approved: false, why: "changed" });
    const revoked = rec(d1, { revoked: { by: "bob", at: "2025-01-02T00:00:00.000Z" } });
    const v = approvalVerdict([revoked], ref, d1);
    expect(v).toMatchObject({ approved: false, why: "revoked" });
    expect(v.approved ? "" : v.message).toContain("revoked by bob");
    // Other profiles' approvals do not count.
    expect(approvalVerdict([rec(d1)], { ...ref, namespace: "shop" }, d1)).toMatchObject({ approved: false });
    expect(approvalVerdict([rec(d1)], { kind: "AppArmorProfile", name: "web" }, d1)).toMatchObject({
      approved: false,
    });
    expect(currentApproval([rec(d1), rec(d2)], ref)?.digest).toBe(d2);
  });
});

describe("approval diff", () => {
  it("marks widening changes", () => {
    const lines = formatApprovalDiff(approvalDiff(seccomp(["read"]), seccomp(["read", "execve"])));
    expect(lines.some((l) => l.startsWith("+!") && l.includes("execve"))).toBe(true);
    const narrowing = formatApprovalDiff(approvalDiff(seccomp(["read", "execve"]), seccomp(["read"])));
    expect(narrowing.some((l) => l.includes("execve") && !l.startsWith("+!"))).toBe(true);
  });
});
