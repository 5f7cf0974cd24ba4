import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { FakeProc } from "./fake-proc.js";
import { Lru } from "./lru.js";
import { ProcReader } from "./proc-reader.js";

let fake: FakeProc | undefined;
afterEach(() => {
  fake?.cleanup();
  fake = undefined;
});

describe("ProcReader on a fake proc root", () => {
  it("reads cgroup, start time (comm with spaces and parentheses) and mntns", () => {
    fake = new FakeProc(1234.5);
    fake.spawn({ pid: 42, start: 777, cgroup: "0::/docker/x\n", mntns: 4026532177, comm: "evil) 1 2 (3" });
    const r = new ProcReader(fake.root);
    expect(r.cgroup(42)).toEqual({ ok: true, value: "0::/docker/x\n" });
    expect(r.startTime(42)).toEqual({ ok: true, value: 777 });
    expect(r.mntns(42)).toEqual({ ok: true, value: 4026532177 });
    expect(r.uptimeMs()).toEqual({ ok: true, value: 1234500 });
  });

  it("reports a missing pid as gone, and an invalid pid as malformed", () => {
    fake = new FakeProc();
    const r = new ProcReader(fake.root);
    expect(r.startTime(99)).toMatchObject({ ok: false, reason: "gone" });
    expect(r.cgroup(99)).toMatchObject({ ok: false, reason: "gone" });
    expect(r.mntns(99)).toMatchObject({ ok: false, reason: "gone" });
    expect(r.startTime(0)).toMatchObject({ ok: false, reason: "malformed" });
    expect(r.startTime(-1)).toMatchObject({ ok: false, reason: "malformed" });
    expect(r.startTime(1.5)).toMatchObject({ ok: false, reason: "malformed" });
  });
});

describe("ProcReader on the real /proc", () => {
  it("reads this process", () => {
    const r = new ProcReader();
    const st = r.startTime(process.pid);
    expect(st.ok).toBe(true);
    expect(r.cgroup(process.pid)).toEqual({ ok: true, value: readFileSync("/proc/self/cgroup", "utf8") });
    expect(r.mntns(process.pid).ok).toBe(true);
    expect(r.mntns("self")).toEqual(r.mntns(process.pid));
    expect(r.uptimeMs().ok).toBe(true);
  });
});

describe("Lru", () => {
  it("evicts the least recently used", () => {
    const l = new Lru<number, string>(2);
    l.set(1, "a");
    l.set(2, "b");
    l.get(1);
    expect(l.set(3, "c")).toEqual([2, "b"]);
    expect(l.peek(1)).toBe("a");
    expect(l.peek(2)).toBeUndefined();
    expect(() => new Lru(0)).toThrow(RangeError);
  });
});
