/**
 * The ProfileState contract: one suite that every adapter runs (memory in a unit test, Redis in a
 * `.redis.test.ts`). `make` must return a fresh, empty, isolated state on every call.
 *
 * What it pins down: apply is a join (idempotent, commutative, associative — checked with
 * fast-check over random sets of observations and permutations with duplicates), loss counters are
 * a per-recorder, per-counter max, target metadata is chosen by a rule that ignores arrival order,
 * and list/remove are scoped to one recording.
 */
import type { LossCounters, Observation, ProfileState, Target, TargetState } from "@secprof/core";
import { recordingKey } from "@secprof/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

export interface ProfileStateHarness {
  state: ProfileState;
  /** Drops whatever the state created (e.g. its Redis keys). */
  cleanup?: () => Promise<void>;
}

export interface ProfileStateContractOptions {
  /** fast-check runs for the order-independence property (default 50). */
  numRuns?: number;
}

const zero: LossCounters = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };

export function contractTarget(container: string, overrides: Partial<Target> = {}): Target {
  const t: Target = {
    recording: "rec",
    namespace: "shop",
    pod: `web-${container}`,
    podUid: `uid-${container}`,
    container,
    containerId: `cid-${container}`,
    node: "node-1",
    kind: "SeccompProfile",
    replica: "abcde",
    profileName: `rec-${container}-abcde`,
    ...overrides,
  };
  return t;
}

export function contractObservation(
  target: Target,
  delta: Partial<Observation["delta"]>,
  extra: Partial<Omit<Observation, "delta" | "target">> = {},
): Observation {
  return {
    v: 1,
    target,
    recorder: "node-1",
    seq: 1,
    at: 1_700_000_000_000,
    loss: zero,
    ...extra,
    delta: { syscalls: {}, avc: [], ...delta },
  };
}

// Small pools so that random observations overlap (the interesting case for a union).
const SYSCALLS = ["read", "write", "openat", "close", "mmap", "futex", "epoll_wait", "accept4"];
const ARCHES = ["x86_64", "x86", "aarch64"] as const;
const TYPES = ["container_t", "var_t", "etc_t"];
const PERMS = ["read", "write", "open", "getattr"];
const PATHS = ["/etc/hosts", "/var/log/x", "/usr/bin/env", "/tmp/a b"];

const targetArb = fc.record({
  container: fc.constantFrom("nginx", "app"),
  containerId: fc.constantFrom("cid-1", "cid-2"),
  namespace: fc.constantFrom("shop"),
});

const observationArb: fc.Arbitrary<Observation> = fc
  .record({
    t: targetArb,
    recorder: fc.constantFrom("node-1", "node-2"),
    seq: fc.integer({ min: 0, max: 1_000_000 }),
    at: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
    syscalls: fc.dictionary(
      fc.constantFrom(...ARCHES),
      fc.uniqueArray(fc.constantFrom(...SYSCALLS), { maxLength: 5 }),
      {
        maxKeys: 2,
      },
    ),
    avc: fc.array(
      fc.record({
        scontextType: fc.constantFrom(...TYPES),
        tcontextType: fc.constantFrom(...TYPES),
        tclass: fc.constantFrom("file", "dir"),
        perms: fc.array(fc.constantFrom(...PERMS), { maxLength: 3 }),
      }),
      { maxLength: 3 },
    ),
    apparmor: fc.option(
      fc.record({
        executables: fc.uniqueArray(fc.constantFrom(...PATHS), { maxLength: 2 }),
        readPaths: fc.uniqueArray(fc.constantFrom(...PATHS), { maxLength: 2 }),
        writePaths: fc.uniqueArray(fc.constantFrom(...PATHS), { maxLength: 2 }),
        capabilities: fc.uniqueArray(fc.constantFrom("chown", "net_raw"), { maxLength: 2 }),
        network: fc.uniqueArray(fc.constantFrom("tcp" as const, "udp" as const, "unix" as const), {
          maxLength: 2,
        }),
      }),
      { nil: undefined },
    ),
    loss: fc.record({
      kernelLost: fc.integer({ min: 0, max: 20 }),
      parserDropped: fc.integer({ min: 0, max: 20 }),
      attributionMisses: fc.integer({ min: 0, max: 20 }),
      truncated: fc.integer({ min: 0, max: 20 }),
    }),
    // A node that rebooted into another kernel mid-recording reports two.
    host: fc.option(
      fc.record({ kernel: fc.constantFrom("6.1.0-13-amd64", "6.1.0-18-amd64"), arch: fc.constant("x86_64") }),
      { nil: undefined },
    ),
  })
  .map(({ t, recorder, seq, at, syscalls, avc, apparmor, loss, host }) => {
    const target = contractTarget(t.container, { containerId: t.containerId, namespace: t.namespace });
    const delta: Observation["delta"] =
      apparmor === undefined ? { syscalls, avc } : { syscalls, avc, apparmor };
    const o: Observation = { v: 1 as const, target, recorder, seq, at, delta, loss };
    if (host !== undefined) o.host = host;
    return o;
  });

/** A sequence of observations and a shuffle of the same ones with some applied twice. */
const permutedArb = fc
  .array(observationArb, { minLength: 1, maxLength: 12 })
  .chain((obs) =>
    fc.tuple(
      fc.constant(obs),
      fc.shuffledSubarray(obs, { minLength: obs.length, maxLength: obs.length }),
      fc.subarray(obs),
    ),
  )
  .map(([obs, shuffled, again]) => ({ obs, other: [...shuffled, ...again] }));

async function applyAll(s: ProfileState, obs: readonly Observation[]): Promise<void> {
  for (const o of obs) await s.apply(o);
}

async function snapshot(s: ProfileState, rks: readonly string[]): Promise<Record<string, TargetState[]>> {
  const out: Record<string, TargetState[]> = {};
  for (const rk of rks) out[rk] = await s.list(rk);
  return out;
}

export function profileStateContract(
  name: string,
  make: () => Promise<ProfileStateHarness>,
  opts: ProfileStateContractOptions = {},
): void {
  describe(`ProfileState contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    const fresh = async (): Promise<ProfileState> => {
      const h = await make();
      if (h.cleanup !== undefined) cleanups.push(h.cleanup);
      return h.state;
    };
    afterAll(async () => {
      for (const c of cleanups.splice(0)) await c();
    });

    it("folds an observation into a sorted TargetState", async () => {
      const s = await fresh();
      const t = contractTarget("nginx");
      await s.apply(
        contractObservation(
          t,
          {
            syscalls: { x86_64: ["write", "read"], x86: ["read"] },
            avc: [
              {
                scontextType: "container_t",
                tcontextType: "var_t",
                tclass: "dir",
                perms: ["search", "read"],
              },
            ],
            apparmor: {
              executables: ["/bin/sh"],
              libraries: ["/opt/app/b.so", "/opt/app/a.so"],
              readPaths: ["/etc/b", "/etc/a"],
              writePaths: [],
              capabilities: ["chown"],
              network: ["tcp"],
            },
          },
          { loss: { ...zero, kernelLost: 2 } },
        ),
      );
      const st = await s.get(recordingKey(t), t.profileName);
      expect(st).toEqual({
        target: t,
        syscalls: { x86_64: ["read", "write"], x86: ["read"] },
        avc: [
          '{"scontextType":"container_t","tcontextType":"var_t","tclass":"dir","perms":["read","search"]}',
        ],
        apparmor: {
          executables: ["/bin/sh"],
          libraries: ["/opt/app/a.so", "/opt/app/b.so"],
          readPaths: ["/etc/a", "/etc/b"],
          writePaths: [],
          capabilities: ["chown"],
          network: ["tcp"],
        },
        loss: { "node-1": { ...zero, kernelLost: 2 } },
        recorders: ["node-1"],
        firstAt: 1_700_000_000_000,
        lastAt: 1_700_000_000_000,
      } satisfies TargetState);
      expect(Object.keys(st?.syscalls ?? {})).toEqual(["x86_64", "x86"]);
      expect(await s.get(recordingKey(t), "rec-missing-abcde")).toBeUndefined();
      expect(await s.get("other/rec", t.profileName)).toBeUndefined();
    });

    it("is idempotent: applying every observation twice equals applying it once", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(observationArb, { minLength: 1, maxLength: 8 }), async (obs) => {
          const [once, twice] = [await fresh(), await fresh()];
          await applyAll(once, obs);
          await applyAll(twice, obs);
          await applyAll(twice, obs);
          expect(await snapshot(twice, ["shop/rec"])).toEqual(await snapshot(once, ["shop/rec"]));
        }),
        { numRuns: Math.max(5, Math.floor((opts.numRuns ?? 50) / 2)) },
      );
    });

    it("is order independent: any permutation (with duplicates) gives the same state", async () => {
      await fc.assert(
        fc.asyncProperty(permutedArb, async ({ obs, other }) => {
          const [a, b] = [await fresh(), await fresh()];
          await applyAll(a, obs);
          await applyAll(b, other);
          expect(await snapshot(b, ["shop/rec"])).toEqual(await snapshot(a, ["shop/rec"]));
        }),
        { numRuns: opts.numRuns ?? 50 },
      );
    });

    it("keeps the max of each loss counter per recorder (they are cumulative)", async () => {
      const s = await fresh();
      const t = contractTarget("nginx");
      const o = (recorder: string, loss: LossCounters, seq: number) =>
        contractObservation(t, { syscalls: { x86_64: ["read"] } }, { recorder, loss, seq });
      await s.apply(o("node-1", { ...zero, kernelLost: 5, truncated: 1 }, 2));
      await s.apply(o("node-1", { ...zero, kernelLost: 3, parserDropped: 4 }, 1)); // late, smaller
      await s.apply(o("node-2", { ...zero, attributionMisses: 7 }, 1));
      const st = await s.get(recordingKey(t), t.profileName);
      expect(st?.loss).toEqual({
        "node-1": { kernelLost: 5, parserDropped: 4, attributionMisses: 0, truncated: 1 },
        "node-2": { ...zero, attributionMisses: 7 },
      });
      expect(st?.recorders).toEqual(["node-1", "node-2"]);
    });

    it("keeps each recorder's host facts of its latest observation, whatever the order", async () => {
      const t = contractTarget("nginx");
      const o = (recorder: string, at: number, kernel?: string) =>
        contractObservation(
          t,
          { syscalls: { x86_64: ["read"] } },
          kernel === undefined ? { recorder, at } : { recorder, at, host: { kernel, arch: "x86_64" } },
        );
      const obs = [
        o("node-1", 1000, "6.1.0-13"),
        o("node-1", 2000, "6.1.0-18"),
        o("node-2", 1500),
        o("node-1", 3000),
      ];
      for (const order of [obs, [...obs].reverse()]) {
        const s = await fresh();
        await applyAll(s, order);
        const st = await s.get(recordingKey(t), t.profileName);
        expect(st?.hosts).toEqual({ "node-1": { kernel: "6.1.0-18", arch: "x86_64" } });
      }
    });

    it("keeps the target metadata of the latest observation and the first/last times, whatever the order", async () => {
      const older = contractTarget("nginx", { containerId: "cid-old" });
      const newer = contractTarget("nginx", { containerId: "cid-new" });
      const a = contractObservation(older, { syscalls: { x86_64: ["read"] } }, { at: 1000, seq: 1 });
      const b = contractObservation(newer, { syscalls: { x86_64: ["write"] } }, { at: 2000, seq: 2 });
      for (const order of [
        [a, b],
        [b, a],
      ]) {
        const s = await fresh();
        await applyAll(s, order);
        const st = await s.get(recordingKey(older), older.profileName);
        expect(st?.target.containerId).toBe("cid-new");
        expect([st?.firstAt, st?.lastAt]).toEqual([1000, 2000]);
        expect(st?.syscalls).toEqual({ x86_64: ["read", "write"] });
      }
    });

    it("lists the targets of one recording (sorted) and removes one without touching others", async () => {
      const s = await fresh();
      const a = contractTarget("b-app");
      const b = contractTarget("a-app");
      const elsewhere = contractTarget("a-app", { recording: "other" });
      for (const t of [a, b, elsewhere])
        await s.apply(contractObservation(t, { syscalls: { x86_64: ["read"] } }));
      expect((await s.list("shop/rec")).map((x) => x.target.profileName)).toEqual([
        b.profileName,
        a.profileName,
      ]);
      expect((await s.list("shop/other")).map((x) => x.target.recording)).toEqual(["other"]);
      expect(await s.list("shop/none")).toEqual([]);

      await s.remove("shop/rec", a.profileName);
      expect((await s.list("shop/rec")).map((x) => x.target.profileName)).toEqual([b.profileName]);
      expect(await s.get("shop/rec", a.profileName)).toBeUndefined();
      expect(await s.list("shop/other")).toHaveLength(1);
      await s.remove("shop/rec", "rec-never-abcde"); // removing a missing target is a no-op

      // A late observation after remove starts the target afresh (only what it carries).
      await s.apply(contractObservation(a, { syscalls: { x86_64: ["close"] } }));
      expect((await s.get("shop/rec", a.profileName))?.syscalls).toEqual({ x86_64: ["close"] });
    });

    it("absorbs a large observation (schema maxima) in one apply", async () => {
      const s = await fresh();
      const t = contractTarget("big");
      const names = Array.from({ length: 1024 }, (_, i) => `sys_${i}`);
      const paths = Array.from({ length: 5000 }, (_, i) => `/data/file-${i}`);
      await s.apply(
        contractObservation(t, {
          syscalls: { x86_64: names, aarch64: names },
          apparmor: { executables: [], readPaths: paths, writePaths: paths, capabilities: [], network: [] },
        }),
      );
      const st = await s.get(recordingKey(t), t.profileName);
      expect(st?.syscalls.x86_64).toHaveLength(1024);
      expect(st?.syscalls.aarch64).toHaveLength(1024);
      expect(st?.apparmor.readPaths).toHaveLength(5000);
      expect(st?.apparmor.writePaths).toHaveLength(5000);
    });
  });
}
