import {
  COVERAGE_ANNOTATION,
  canonicalJson,
  LABELS,
  SeccompProfile,
  SyscallSet,
  type TargetState,
} from "@secprof/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  finalizeSeccomp,
  INCOMPLETE_ANNOTATION,
  mergeSeccompPartials,
  seccompProfileFor,
} from "./finalize.js";
import { contractTarget } from "./profile-state.contract.js";

const zero = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };

function state(
  container: string,
  replica: string,
  syscalls: TargetState["syscalls"],
  loss = zero,
): TargetState {
  const target = contractTarget(container, { replica, profileName: `rec-${container}-${replica}` });
  return {
    target,
    syscalls,
    avc: [],
    apparmor: { executables: [], readPaths: [], writePaths: [], capabilities: [], network: [] },
    loss: { "node-1": loss },
    recorders: ["node-1"],
    firstAt: 1,
    lastAt: 2,
  };
}

describe("seccompProfileFor", () => {
  it("builds SPO's recorded profile: name, labels, deny-by-default spec", () => {
    const p = seccompProfileFor(state("nginx", "gmbrj", { x86_64: ["write", "read", "accept4"] }));
    expect(SeccompProfile.parse(p)).toEqual(p);
    expect(canonicalJson(p)).toBe(
      canonicalJson({
        apiVersion: "security-profiles-operator.x-k8s.io/v1",
        kind: "SeccompProfile",
        metadata: {
          name: "rec-nginx-gmbrj",
          labels: {
            "spo.x-k8s.io/recording-id": "rec",
            "spo.x-k8s.io/container-id": "nginx",
            "spo.x-k8s.io/recording-namespace": "shop",
          },
        },
        spec: {
          defaultAction: "SCMP_ACT_ERRNO",
          architectures: ["SCMP_ARCH_X86_64"],
          syscalls: [{ names: ["accept4", "read", "write"], action: "SCMP_ACT_ALLOW" }],
        },
      }),
    );
  });

  it("labels partials and marks incomplete recordings", () => {
    const p = seccompProfileFor(state("nginx", "a", { x86_64: ["read"] }, { ...zero, kernelLost: 4 }), {
      partial: true,
    });
    expect(p.metadata.labels?.[LABELS.partial]).toBe("true");
    expect(p.metadata.annotations).toEqual({
      [INCOMPLETE_ANNOTATION]: '{"kernelLost":4,"parserDropped":0,"attributionMisses":0,"truncated":0}',
    });
    expect(INCOMPLETE_ANNOTATION).toBe("secprof.x-k8s.io/incomplete");
  });

  it("adds the runtime's syscalls when given", () => {
    const runtime = new SyscallSet();
    runtime.add("x86_64", "execve");
    const p = seccompProfileFor(state("nginx", "a", { x86_64: ["read"] }), { runtime });
    expect(p.spec.syscalls?.[0]?.names).toEqual(["execve", "read"]);
  });
});

describe("mergeSeccompPartials / finalizeSeccomp", () => {
  const partials = [
    state("nginx", "aaaaa", { x86_64: ["read", "write"] }),
    state("nginx", "bbbbb", { x86_64: ["read", "accept4"] }, { ...zero, truncated: 2 }),
    state("nginx", "ccccc", { x86_64: ["read"], x86: ["socketcall"] }),
    state("sidecar", "aaaaa", { x86_64: ["nanosleep"] }),
  ];

  it("merges per container: union, SPO name and labels, coverage, incomplete inherited", () => {
    const merged = finalizeSeccomp(partials, "Containers");
    expect(merged.map((p) => p.metadata.name)).toEqual(["rec-nginx", "rec-sidecar"]);
    const [nginx, sidecar] = merged;
    for (const p of merged) expect(SeccompProfile.parse(p)).toEqual(p);
    expect(nginx?.metadata.labels).toEqual({
      [LABELS.recordingId]: "rec",
      [LABELS.recordingNamespace]: "shop",
    });
    expect(nginx?.metadata.annotations).toEqual({
      [COVERAGE_ANNOTATION]:
        '{"version":"v1","total":3,"syscalls":{"accept4":1,"read":3,"socketcall":1,"write":1}}',
      [INCOMPLETE_ANNOTATION]: '{"kernelLost":0,"parserDropped":0,"attributionMisses":0,"truncated":2}',
    });
    expect(nginx?.spec).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      syscalls: [{ names: ["accept4", "read", "socketcall", "write"], action: "SCMP_ACT_ALLOW" }],
    });
    expect(sidecar?.metadata.annotations).toEqual({
      [COVERAGE_ANNOTATION]: '{"version":"v1","total":1,"syscalls":{"nanosleep":1}}',
    });
  });

  it("ignores partials without a container-id label (as SPO does)", () => {
    const p = seccompProfileFor(partials[0] as TargetState, { partial: true });
    const unlabeled = { ...p, metadata: { ...p.metadata, labels: { [LABELS.recordingId]: "rec" } } };
    expect(mergeSeccompPartials([unlabeled])).toEqual([]);
  });

  it("mergeStrategy None: one profile per target, no partial label", () => {
    const out = finalizeSeccomp(partials, "None");
    expect(out.map((p) => p.metadata.name)).toEqual([
      "rec-nginx-aaaaa",
      "rec-nginx-bbbbb",
      "rec-nginx-ccccc",
      "rec-sidecar-aaaaa",
    ]);
    for (const p of out) expect(p.metadata.labels?.[LABELS.partial]).toBeUndefined();
  });

  const SYS = ["read", "write", "openat", "close", "futex", "socketcall", "mmap"];
  const stateArb = fc
    .record({
      container: fc.constantFrom("nginx", "app", "sidecar"),
      replica: fc.stringMatching(/^[a-z0-9]{5}$/),
      x86_64: fc.uniqueArray(fc.constantFrom(...SYS), { maxLength: 5 }),
      x86: fc.uniqueArray(fc.constantFrom(...SYS), { maxLength: 2 }),
      lost: fc.nat({ max: 3 }),
    })
    .map(({ container, replica, x86_64, x86, lost }) => {
      const syscalls: TargetState["syscalls"] = {};
      if (x86_64.length > 0) syscalls.x86_64 = [...x86_64].sort();
      if (x86.length > 0) syscalls.x86 = [...x86].sort();
      return state(container, replica, syscalls, { ...zero, kernelLost: lost });
    });

  it("is byte-identical for any order of its inputs (property)", () => {
    fc.assert(
      fc.property(
        fc
          .uniqueArray(stateArb, { selector: (s) => s.target.profileName, minLength: 1, maxLength: 8 })
          .chain((xs) =>
            fc.tuple(
              fc.constant(xs),
              fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }),
            ),
          ),
        ([xs, ys]) => {
          for (const strategy of ["None", "Containers"] as const)
            expect(canonicalJson(finalizeSeccomp(ys, strategy))).toBe(
              canonicalJson(finalizeSeccomp(xs, strategy)),
            );
        },
      ),
      { numRuns: 300 },
    );
  });
});
