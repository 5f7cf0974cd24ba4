import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { COVERAGE_ANNOTATION, LABELS } from "../recording/naming.js";
import { SeccompAction, type SeccompProfile, type SeccompRule, SeccompSpec } from "../schemas/profiles.js";
import { diffProfilePair } from "./diff.js";
import {
  mergeSeccompProfiles,
  mergeSeccompSpecs,
  normalizeSeccomp,
  SeccompMergeConflict,
  type SeccompNameRule,
  seccompActionRank,
} from "./merge-seccomp.js";
import { seccompProfileCR } from "./seccomp.js";

const allow = (...names: string[]): SeccompRule => ({ names, action: "SCMP_ACT_ALLOW" });

describe("mergeSeccompSpecs: SPO's union semantics", () => {
  it("unions two recordings into one sorted rule, keeping the base's default and the union of arches", () => {
    const a: SeccompSpec = {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [allow("write", "read")],
    };
    const b: SeccompSpec = {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"],
      syscalls: [allow("openat", "read")],
    };
    expect(mergeSeccompSpecs([a, b])).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      syscalls: [allow("openat", "read", "write")],
    });
  });

  it("gives SPO's one-name-per-entry form with layout per-name", () => {
    const a: SeccompSpec = { defaultAction: "SCMP_ACT_ERRNO", syscalls: [allow("write", "read")] };
    const b: SeccompSpec = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["close"], action: "SCMP_ACT_LOG" }],
    };
    expect(mergeSeccompSpecs([a, b], { layout: "per-name" }).syscalls).toEqual([
      { names: ["close"], action: "SCMP_ACT_LOG" },
      allow("read"),
      allow("write"),
    ]);
  });

  it("picks the least restrictive action in SPO's order, errnoRet following the chosen side", () => {
    const order: SeccompAction[] = [
      "SCMP_ACT_KILL_PROCESS",
      "SCMP_ACT_KILL",
      "SCMP_ACT_TRAP",
      "SCMP_ACT_ERRNO",
      "SCMP_ACT_NOTIFY",
      "SCMP_ACT_TRACE",
      "SCMP_ACT_LOG",
      "SCMP_ACT_ALLOW",
    ];
    for (let i = 0; i + 1 < order.length; i++) {
      const lo = order[i] as SeccompAction;
      const hi = order[i + 1] as SeccompAction;
      expect(seccompActionRank(hi)).toBeGreaterThan(seccompActionRank(lo));
      const spec = (action: SeccompAction, errnoRet?: number): SeccompSpec => ({
        defaultAction: "SCMP_ACT_KILL_PROCESS",
        syscalls: [{ names: ["mount"], action, ...(errnoRet === undefined ? {} : { errnoRet }) }],
      });
      expect(mergeSeccompSpecs([spec(hi, 7), spec(lo, 3)]).syscalls).toEqual([
        { names: ["mount"], action: hi, errnoRet: 7 },
      ]);
      expect(mergeSeccompSpecs([spec(lo, 3), spec(hi)]).syscalls).toEqual([{ names: ["mount"], action: hi }]);
    }
    expect(seccompActionRank("SCMP_ACT_KILL")).toBe(seccompActionRank("SCMP_ACT_KILL_THREAD"));
  });

  it("makes a syscall unconditional if either side is, else keeps each side's conditions as its own rule", () => {
    const cond = (value: number): SeccompRule => ({
      names: ["personality"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
    });
    const s = (...syscalls: SeccompRule[]): SeccompSpec => ({ defaultAction: "SCMP_ACT_ERRNO", syscalls });
    expect(mergeSeccompSpecs([s(cond(8)), s(allow("personality"))]).syscalls).toEqual([allow("personality")]);
    // Two rules (OR), not one rule with both args (AND: that would allow neither call).
    expect(mergeSeccompSpecs([s(cond(8)), s(cond(0))]).syscalls).toEqual([cond(0), cond(8)]);
    expect(mergeSeccompSpecs([s(cond(8)), s(cond(8))]).syscalls).toEqual([cond(8)]);
  });

  it("restricts only what every side restricts: restrictive rules intersect and vanish against no rule", () => {
    const kill = (args?: SeccompRule["args"]): SeccompRule => ({
      names: ["ptrace"],
      action: "SCMP_ACT_KILL_PROCESS",
      ...(args === undefined ? {} : { args }),
    });
    const s = (...syscalls: SeccompRule[]): SeccompSpec => ({ defaultAction: "SCMP_ACT_ALLOW", syscalls });
    const c0 = { index: 0, value: 0, op: "SCMP_CMP_EQ" as const };
    const c1 = { index: 1, value: 4, op: "SCMP_CMP_EQ" as const };
    // One side lets ptrace through (its default): so does the union.
    expect(mergeSeccompSpecs([s(kill()), s()]).syscalls).toBeUndefined();
    // Both kill it on some calls: only calls both kill stay killed.
    expect(mergeSeccompSpecs([s(kill([c0])), s(kill())]).syscalls).toEqual([kill([c0])]);
    expect(mergeSeccompSpecs([s(kill([c0])), s(kill([c1]))]).syscalls).toEqual([kill([c0, c1])]);
    // A permissive rule beats a restrictive one.
    expect(mergeSeccompSpecs([s(kill()), s({ names: ["ptrace"], action: "SCMP_ACT_LOG" })]).syscalls).toEqual(
      [{ names: ["ptrace"], action: "SCMP_ACT_LOG" }],
    );
  });

  it("reads several rules with the same verdict for one name as alternatives, as libseccomp does", () => {
    const rule = (value: number): SeccompRule => ({
      names: ["ptrace"],
      action: "SCMP_ACT_ERRNO",
      args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
    });
    const spec: SeccompSpec = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [rule(16), rule(17)] };
    expect(mergeSeccompSpecs([spec]).syscalls).toEqual([rule(16), rule(17)]);
    expect(mergeSeccompSpecs([spec, spec])).toEqual(mergeSeccompSpecs([spec]));
  });

  it("refuses profiles with different default actions: an allowlist and a denylist have no one-profile union", () => {
    const denylist: SeccompSpec = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mount"], action: "SCMP_ACT_ERRNO" }],
    };
    const allowlist: SeccompSpec = { defaultAction: "SCMP_ACT_ERRNO", syscalls: [allow("read")] };
    expect(() => mergeSeccompSpecs([denylist, allowlist])).toThrow(/different defaultActions/);
  });

  it("refuses profiles with different bases or listeners instead of silently dropping one", () => {
    const a: SeccompSpec = { defaultAction: "SCMP_ACT_ERRNO", baseProfileName: "runc-v1.1.0" };
    const b: SeccompSpec = { defaultAction: "SCMP_ACT_ERRNO", baseProfileName: "crun-v1.8" };
    expect(() => mergeSeccompSpecs([a, b])).toThrow(SeccompMergeConflict);
    expect(() => mergeSeccompSpecs([a, b])).toThrow(/baseProfileName/);
    expect(mergeSeccompSpecs([a, a]).baseProfileName).toBe("runc-v1.1.0");
    expect(() => mergeSeccompSpecs([])).toThrow(RangeError);
  });

  it("unions flags in a fixed order and takes state from the first profile", () => {
    const a: SeccompSpec = {
      state: "Disabled",
      defaultAction: "SCMP_ACT_ERRNO",
      flags: ["SECCOMP_FILTER_FLAG_LOG"],
    };
    const b: SeccompSpec = { defaultAction: "SCMP_ACT_ERRNO", flags: ["SECCOMP_FILTER_FLAG_TSYNC"] };
    expect(mergeSeccompSpecs([a, b])).toEqual({
      state: "Disabled",
      defaultAction: "SCMP_ACT_ERRNO",
      flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
    });
  });
});

// ─── properties ─────────────────────────────────────────────────────────────────────────────

const NAMES = ["read", "write", "openat", "close", "mmap", "futex", "clone3"];
const arbArg = fc.record(
  {
    index: fc.integer({ min: 0, max: 2 }),
    value: fc.integer({ min: 0, max: 3 }),
    op: fc.constantFrom("SCMP_CMP_EQ" as const, "SCMP_CMP_NE" as const, "SCMP_CMP_MASKED_EQ" as const),
    valueTwo: fc.integer({ min: 0, max: 1 }),
  },
  { requiredKeys: ["index", "op"] },
);
const arbRule: fc.Arbitrary<SeccompRule> = fc
  .record({
    names: fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }),
    action: fc.constantFrom(...SeccompAction.options),
    errnoRet: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    args: fc.option(fc.array(arbArg, { maxLength: 2 }), { nil: undefined }),
  })
  .map(({ names, action, errnoRet, args }) => ({
    names,
    action,
    ...(errnoRet === undefined ? {} : { errnoRet }),
    ...(args === undefined ? {} : { args }),
  }));
const arbDefault = fc.constantFrom(
  "SCMP_ACT_ERRNO" as const,
  "SCMP_ACT_KILL_PROCESS" as const,
  "SCMP_ACT_LOG" as const,
  "SCMP_ACT_ALLOW" as const,
);
const arbSpecWith = (defaultAction: SeccompSpec["defaultAction"]): fc.Arbitrary<SeccompSpec> =>
  fc
    .record({
      architectures: fc.option(
        fc.uniqueArray(
          fc.constantFrom(
            "SCMP_ARCH_X86_64" as const,
            "SCMP_ARCH_X86" as const,
            "SCMP_ARCH_AARCH64" as const,
          ),
        ),
        { nil: undefined },
      ),
      syscalls: fc.option(fc.array(arbRule, { maxLength: 6 }), { nil: undefined }),
      flags: fc.option(
        fc.uniqueArray(
          fc.constantFrom("SECCOMP_FILTER_FLAG_LOG" as const, "SECCOMP_FILTER_FLAG_TSYNC" as const),
        ),
        { nil: undefined },
      ),
    })
    .map((s) => {
      const out: SeccompSpec = { defaultAction };
      if (s.architectures !== undefined) out.architectures = s.architectures;
      if (s.syscalls !== undefined) out.syscalls = s.syscalls;
      if (s.flags !== undefined) out.flags = s.flags;
      return out;
    });
/** n specs sharing one default action, as the merge requires. */
const arbSpecs = (min: number, max: number) =>
  arbDefault.chain((d) => fc.array(arbSpecWith(d), { minLength: min, maxLength: max }));
const tuple = <N extends number>(n: N) => arbSpecs(n, n) as fc.Arbitrary<SeccompSpec[]>;

const merge = (...specs: SeccompSpec[]) => mergeSeccompSpecs(specs);
const cr = (spec: SeccompSpec) => seccompProfileCR({ name: "p" }, spec);
const runs = { numRuns: 400 };

describe("mergeSeccompSpecs: properties", () => {
  it("is commutative", () => {
    fc.assert(
      fc.property(tuple(2), ([a, b]) => {
        if (a === undefined || b === undefined) throw new Error("unreachable");
        expect(merge(a, b)).toEqual(merge(b, a));
      }),
      runs,
    );
  });

  it("is associative, and merging in steps equals merging at once", () => {
    fc.assert(
      fc.property(tuple(3), ([a, b, c]) => {
        if (a === undefined || b === undefined || c === undefined) throw new Error("unreachable");
        const left = merge(merge(a, b), c);
        expect(left).toEqual(merge(a, merge(b, c)));
        expect(left).toEqual(merge(a, b, c));
      }),
      runs,
    );
  });

  it("is idempotent", () => {
    fc.assert(
      fc.property(tuple(1), ([a]) => {
        if (a === undefined) throw new Error("unreachable");
        const once = merge(a);
        expect(merge(a, a)).toEqual(once);
        expect(merge(once)).toEqual(once);
        expect(merge(once, a)).toEqual(once);
      }),
      runs,
    );
  });

  it("never loses an allowed call: each input's verdict is at most the merge's, and no diff from the merge widens", () => {
    fc.assert(
      fc.property(arbSpecs(1, 4), (specs) => {
        const merged = mergeSeccompSpecs(specs);
        const m = normalizeSeccomp(merged);
        const rank = (r: SeccompNameRule | undefined, d: SeccompAction) =>
          seccompActionRank(r?.verdict.action ?? d);
        for (const s of specs) {
          const n = normalizeSeccomp(s);
          for (const name of NAMES) {
            const inRule = n.names.get(name);
            const outRule = m.names.get(name);
            expect(rank(outRule, merged.defaultAction)).toBeGreaterThanOrEqual(rank(inRule, s.defaultAction));
            // A call an input lets through unconditionally, the merge does too.
            if (
              inRule?.when === "always" &&
              rank(inRule, s.defaultAction) > seccompActionRank(s.defaultAction)
            )
              expect(outRule?.when).toBe("always");
          }
          // Going from the merge to any input never allows more.
          expect(diffProfilePair(cr(merged), cr(s)).filter((c) => c.widening)).toEqual([]);
        }
      }),
      runs,
    );
  });

  it("produces a valid spec with grouped, sorted rules", () => {
    fc.assert(
      fc.property(arbSpecs(1, 3), (specs) => {
        const merged = mergeSeccompSpecs(specs);
        expect(SeccompSpec.parse(merged)).toEqual(merged);
        for (const r of merged.syscalls ?? []) expect(r.names).toEqual([...r.names].sort());
      }),
      runs,
    );
  });
});

// ─── CRs ────────────────────────────────────────────────────────────────────────────────────

function partial(name: string, names: string[], extra: Record<string, string> = {}): SeccompProfile {
  return seccompProfileCR(
    {
      name,
      labels: {
        [LABELS.recordingId]: "web-rec",
        [LABELS.recordingNamespace]: "shop",
        [LABELS.containerId]: "nginx",
        [LABELS.partial]: "true",
      },
      annotations: extra,
    },
    { defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64"], syscalls: [allow(...names)] },
  );
}

describe("mergeSeccompProfiles", () => {
  const a = partial("web-rec-nginx-aaaaa", ["read", "write"]);
  const b = partial("web-rec-nginx-bbbbb", ["read", "openat"]);
  const c = partial("web-rec-nginx-ccccc", ["read"], {
    "secprof.x-k8s.io/incomplete": "kernel lost 3 events",
  });

  it("names the merge, keeps shared labels except partial, and writes SPO's coverage annotation", () => {
    const m = mergeSeccompProfiles([a, b, c], "web-rec-nginx");
    expect(m.metadata.name).toBe("web-rec-nginx");
    expect(m.metadata.labels).toEqual({
      [LABELS.containerId]: "nginx",
      [LABELS.recordingId]: "web-rec",
      [LABELS.recordingNamespace]: "shop",
    });
    expect(JSON.parse(m.metadata.annotations?.[COVERAGE_ANNOTATION] ?? "")).toEqual({
      version: "v1",
      total: 3,
      syscalls: { openat: 1, read: 3, write: 1 },
    });
    expect(m.metadata.annotations?.["secprof.x-k8s.io/incomplete"]).toBe("kernel lost 3 events");
    expect(m.spec.syscalls).toEqual([allow("openat", "read", "write")]);
  });

  it("counts coverage the same when merging in steps", () => {
    const once = mergeSeccompProfiles([a, b, c], "m");
    const steps = mergeSeccompProfiles([mergeSeccompProfiles([a, b], "m"), c], "m");
    expect(steps.metadata.annotations?.[COVERAGE_ANNOTATION]).toBe(
      once.metadata.annotations?.[COVERAGE_ANNOTATION],
    );
    expect(steps.spec).toEqual(once.spec);
  });
});
