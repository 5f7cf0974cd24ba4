import { Observation, type Target } from "@secprof/core";
import { describe, expect, it } from "vitest";
import { DeltaBatcher } from "./delta-batcher.js";

const target = (container: string, replica = "abcde"): Target => ({
  recording: "rec",
  namespace: "shop",
  pod: `web-${replica}`,
  podUid: `uid-${replica}`,
  container,
  containerId: `cid-${container}-${replica}`,
  node: "node-1",
  kind: "SeccompProfile",
  replica,
  profileName: `rec-${container}-${replica}`,
});

const clock = (start = 1_700_000_000_000) => {
  let t = start;
  return {
    now: () => t,
    tick: (ms = 1000) => {
      t += ms;
    },
  };
};

const zero = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };

describe("DeltaBatcher", () => {
  it("emits one observation per target with only new facts, and nothing when quiet", () => {
    const c = clock();
    const b = new DeltaBatcher({ recorder: "node-1", now: c.now });
    const t = target("nginx");
    b.addSyscall(t, "x86_64", "read");
    b.addSyscall(t, "x86_64", "write");
    b.addSyscall(t, "x86_64", "read");
    b.addSyscall(t, "x86", "read");
    const first = b.flush();
    expect(first).toHaveLength(1);
    const [o] = first;
    expect(Observation.parse(o)).toEqual(o);
    expect(o?.delta.syscalls).toEqual({ x86_64: ["read", "write"], x86: ["read"] });
    expect(o?.loss).toEqual(zero);
    expect(o?.recorder).toBe("node-1");

    c.tick();
    expect(b.flush()).toEqual([]);
    b.addSyscall(t, "x86_64", "write");
    expect(b.flush()).toEqual([]);
    b.addSyscall(t, "x86_64", "openat");
    c.tick();
    const second = b.flush();
    expect(second.map((x) => x.delta.syscalls)).toEqual([{ x86_64: ["openat"] }]);
    expect(second[0]?.seq ?? 0).toBeGreaterThan(o?.seq ?? Number.POSITIVE_INFINITY);
  });

  it("keeps seq strictly increasing per target even when the clock stands still or goes back", () => {
    const c = clock();
    const b = new DeltaBatcher({ recorder: "n", now: c.now });
    const t = target("a");
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      b.addSyscall(t, "x86_64", `s${i}`);
      seqs.push(b.flush()[0]?.seq ?? -1);
      if (i === 2) c.tick(-5000);
    }
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? 0);
  });

  it("keeps targets apart and canonicalizes AVC tuples and AppArmor facts", () => {
    const b = new DeltaBatcher({ recorder: "n" });
    const a = target("a");
    const z = target("z");
    b.addAvc(a, {
      scontextType: "container_t",
      tcontextType: "var_t",
      tclass: "dir",
      perms: ["search", "read"],
    });
    b.addAvc(a, {
      scontextType: "container_t",
      tcontextType: "var_t",
      tclass: "dir",
      perms: ["read", "search", "read"],
    });
    b.addAppArmor(z, "readPaths", "/etc/hosts");
    b.addAppArmor(z, "libraries", "/opt/app/plugin.so");
    b.addAppArmor(z, "network", "tcp");
    b.addAppArmor(z, "capabilities", "net_bind_service");
    const out = b.flush();
    expect(out).toHaveLength(2);
    const byName = new Map(out.map((o) => [o.target.profileName, o]));
    expect(byName.get(a.profileName)?.delta.avc).toEqual([
      { scontextType: "container_t", tcontextType: "var_t", tclass: "dir", perms: ["read", "search"] },
    ]);
    expect(byName.get(a.profileName)?.delta.apparmor).toBeUndefined();
    expect(byName.get(z.profileName)?.delta.apparmor).toEqual({
      executables: [],
      libraries: ["/opt/app/plugin.so"],
      readPaths: ["/etc/hosts"],
      writePaths: [],
      capabilities: ["net_bind_service"],
      network: ["tcp"],
    });
    for (const o of out) Observation.parse(o);
  });

  it("counts facts beyond the pending bound in truncated, never silently", () => {
    const b = new DeltaBatcher({ recorder: "n", maxPendingPerTarget: 3 });
    const t = target("a");
    for (const n of ["a", "b", "c", "d", "e"]) b.addSyscall(t, "x86_64", n);
    const [o] = b.flush();
    expect(o?.delta.syscalls.x86_64).toEqual(["a", "b", "c"]);
    expect(o?.loss.truncated).toBe(2);
    expect(b.stats().droppedFacts).toBe(2);
    // The count is cumulative: later observations keep reporting it.
    b.addSyscall(t, "x86_64", "f");
    expect(b.flush()[0]?.loss.truncated).toBe(2);
  });

  it("drops facts no observation could carry at the door, counted", () => {
    const b = new DeltaBatcher({ recorder: "n" });
    const t = target("a");
    b.addSyscall(t, "x86_64", "x".repeat(65));
    b.addAppArmor(t, "readPaths", `/${"p".repeat(5000)}`);
    b.addAppArmor(t, "network", "sctp");
    const [o] = b.flush();
    expect(o?.loss.truncated).toBe(3);
    expect(Observation.parse(o)).toBeDefined();
  });

  it("splits a burst larger than one observation over several flushes", () => {
    const b = new DeltaBatcher({ recorder: "n" });
    const t = target("a");
    for (let i = 0; i < 1500; i++) b.addSyscall(t, "x86_64", `sys${String(i).padStart(4, "0")}`);
    const first = b.flush();
    expect(first).toHaveLength(1);
    expect(first[0]?.delta.syscalls.x86_64).toHaveLength(1024);
    Observation.parse(first[0]);
    const second = b.flush();
    expect(second[0]?.delta.syscalls.x86_64).toHaveLength(476);
    expect(b.flush()).toEqual([]);
    expect(first[0]?.loss.truncated).toBe(0);
  });

  it("re-emits every target when the recorder's loss counters grow, and only then", () => {
    const b = new DeltaBatcher({ recorder: "n" });
    const [x, y] = [target("x"), target("y")];
    b.addSyscall(x, "x86_64", "read");
    b.addSyscall(y, "x86_64", "read");
    expect(b.flush()).toHaveLength(2);
    b.reportLoss({ kernelLost: 7 });
    const out = b.flush();
    expect(out).toHaveLength(2);
    for (const o of out) {
      expect(o.loss.kernelLost).toBe(7);
      expect(o.delta.syscalls).toEqual({});
    }
    b.reportLoss({ kernelLost: 3 }); // cumulative counters never go down
    expect(b.flush()).toEqual([]);
  });

  it("requeue puts unsent facts back for the next flush", () => {
    const b = new DeltaBatcher({ recorder: "n" });
    const t = target("a");
    b.addSyscall(t, "x86_64", "read");
    b.addAppArmor(t, "executables", "/bin/sh");
    const [o] = b.flush();
    if (o === undefined) throw new Error("no observation");
    b.requeue(o);
    b.addSyscall(t, "x86_64", "read");
    const [again] = b.flush();
    expect(again?.delta.syscalls).toEqual({ x86_64: ["read"] });
    expect(again?.delta.apparmor?.executables).toEqual(["/bin/sh"]);
    expect(again?.seq ?? 0).toBeGreaterThan(o.seq);
  });

  it("bounds targets: evicts fully-sent ones, counts facts it cannot track", () => {
    const b = new DeltaBatcher({ recorder: "n", maxTargets: 2 });
    b.addSyscall(target("a"), "x86_64", "read");
    b.addSyscall(target("b"), "x86_64", "read");
    b.flush();
    // Both sent: a third target evicts the least recently used one.
    b.addSyscall(target("c"), "x86_64", "read");
    expect(b.stats()).toMatchObject({ targets: 2, evictedTargets: 1 });
    // b and c both have pending facts now: d cannot be tracked.
    b.addSyscall(target("b"), "x86_64", "write");
    b.addSyscall(target("d"), "x86_64", "read");
    expect(b.stats().untrackedFacts).toBe(1);
    const out = b.flush();
    expect(out.map((o) => o.target.container).sort()).toEqual(["b", "c"]);
    for (const o of out) expect(o.loss.truncated).toBe(1);
  });

  it("clears the dedup cache at its bound (resending is harmless) and keeps memory bounded", () => {
    const b = new DeltaBatcher({ recorder: "n", maxKnownPerTarget: 4 });
    const t = target("a");
    for (const n of ["a", "b", "c"]) b.addSyscall(t, "x86_64", n);
    b.flush();
    for (const n of ["d", "e"]) b.addSyscall(t, "x86_64", n);
    b.flush();
    expect(b.stats().knownResets).toBe(1);
    expect(b.stats().knownFacts).toBeLessThanOrEqual(4);
    b.addSyscall(t, "x86_64", "a");
    expect(b.flush()[0]?.delta.syscalls).toEqual({ x86_64: ["a"] });
  });
});
