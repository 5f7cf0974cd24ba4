import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ProfileObject } from "../ports/profile-store.js";
import type { AppArmorProfile, SeccompProfile, SelinuxProfile } from "../schemas/profiles.js";
import { ProfileKind } from "../schemas/target.js";
import { KINDS, mergedMetadata, mergeProfiles, renderProfile, validateProfile } from "./kinds.js";

const V = "security-profiles-operator.x-k8s.io/v1" as const;

const seccomp: SeccompProfile = {
  apiVersion: V,
  kind: "SeccompProfile",
  metadata: { name: "web-rec-nginx" },
  spec: {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }],
  },
};
const selinux: SelinuxProfile = {
  apiVersion: V,
  kind: "SelinuxProfile",
  metadata: { name: "web-rec-nginx" },
  spec: {
    inherit: [{ kind: "System", name: "container" }],
    mode: "Enforcing",
    allow: { http_port_t: { tcp_socket: ["name_bind"] } },
  },
};
const apparmor: AppArmorProfile = {
  apiVersion: V,
  kind: "AppArmorProfile",
  metadata: { name: "web-rec-nginx" },
  spec: { mode: "Enforce", abstract: { executable: { allowedExecutables: ["/usr/sbin/nginx"] } } },
};

describe("KINDS: one row per kind", () => {
  it("has a row for every profile kind, each naming its kind", () => {
    expect(Object.keys(KINDS).sort()).toEqual([...ProfileKind.options].sort());
    for (const k of ProfileKind.options) expect(KINDS[k].kind).toBe(k);
  });

  it("renders each kind to its host file", () => {
    expect(renderProfile(seccomp).files.map((f) => f.suffix)).toEqual([".seccomp.json"]);
    expect(JSON.parse(renderProfile(seccomp).files[0]?.content ?? "")).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }],
    });
    expect(renderProfile(selinux).files).toEqual([
      {
        suffix: ".cil",
        content:
          "(block web-rec-nginx\n(blockinherit container)\n(allow process http_port_t ( tcp_socket ( name_bind )))\n)\n",
      },
    ]);
    const aa = renderProfile(apparmor).files;
    expect(aa.map((f) => f.suffix)).toEqual([".apparmor"]);
    expect(aa[0]?.content).toContain("  /usr/sbin/nginx ixr,\n");
  });

  it("validates through the schema and the kind's own rules", () => {
    for (const p of [seccomp, selinux, apparmor]) expect(validateProfile(p)).toEqual([]);
    const bad = { ...selinux, metadata: { name: "a.b" } };
    expect(validateProfile(bad).join()).toContain("CIL block");
    const worse = { ...seccomp, spec: { defaultAction: "SCMP_ACT_NOPE" } } as unknown as ProfileObject;
    expect(validateProfile(worse)[0]).toMatch(/^schema: spec.defaultAction/);
    expect(() => renderProfile(worse)).toThrow(RangeError);
  });

  it("merges within a kind and refuses to merge across kinds", () => {
    const m = mergeProfiles(selinux, {
      ...selinux,
      spec: { ...selinux.spec, allow: { etc_t: { file: ["read"] } } },
    });
    expect(m.spec.allow).toEqual({ etc_t: { file: ["read"] }, http_port_t: { tcp_socket: ["name_bind"] } });
    expect(mergeProfiles(seccomp, seccomp).spec.syscalls).toEqual(seccomp.spec.syscalls);
    expect(() => mergeProfiles<ProfileObject>(seccomp, selinux)).toThrow(TypeError);
  });

  it("merged metadata: the smaller name, the labels and annotations both sides share", () => {
    expect(
      mergedMetadata(
        { name: "b", labels: { x: "1", y: "2" }, annotations: { a: "1" } },
        { name: "a", labels: { x: "1", y: "3" } },
      ),
    ).toEqual({ name: "a", labels: { x: "1" } });
  });

  const labels = fc.dictionary(fc.constantFrom("x", "y", "z"), fc.constantFrom("1", "2"), { maxKeys: 3 });
  const meta = fc.record({ name: fc.constantFrom("a", "b", "c"), labels });
  const aaCr = fc
    .record({
      meta,
      exe: fc.subarray(["/usr/bin/*", "/usr/bin/a", "/opt/b"]),
      caps: fc.subarray(["chown", "setuid"]),
    })
    .map(
      ({ meta, exe, caps }): AppArmorProfile => ({
        apiVersion: V,
        kind: "AppArmorProfile",
        metadata: meta,
        spec: {
          mode: "Enforce",
          abstract: { executable: { allowedExecutables: exe }, capability: { allowedCapabilities: caps } },
        },
      }),
    );
  const seCr = fc
    .record({ meta, perms: fc.subarray(["read", "open", "write"]), t: fc.constantFrom("etc_t", "tmp_t") })
    .map(
      ({ meta, perms, t }): SelinuxProfile => ({
        apiVersion: V,
        kind: "SelinuxProfile",
        metadata: meta,
        spec: {
          inherit: [{ kind: "System", name: "container" }],
          mode: "Enforcing",
          allow: { [t]: { file: perms } },
        },
      }),
    );

  it("whole-object merges of SELinux and AppArmor profiles are associative, commutative and idempotent", () => {
    for (const arb of [aaCr, seCr] as fc.Arbitrary<ProfileObject>[])
      fc.assert(
        fc.property(arb, arb, arb, (a, b, c) => {
          const m = (x: ProfileObject, y: ProfileObject) => mergeProfiles(x, y);
          expect(m(a, b)).toEqual(m(b, a));
          expect(m(m(a, b), c)).toEqual(m(a, m(b, c)));
          const ab = m(a, b);
          expect(m(ab, ab)).toEqual(ab);
        }),
        { numRuns: 300 },
      );
  });
});
