import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  decodeKey,
  type ParsedLine,
  parseLine,
  SnapshotDiffer,
  type SyscallsEvent,
  X32_BIT,
} from "./parse.js";

// Real bpftrace 0.17 output of syscalls.bt (-f json, host namespace excluded), captured on kernel
// 6.18 while running a 32-bit binary, an x32/int-0x80 probe and a binary named `we"ird tr\ue`,
// one after the other, each in a private mount namespace (unshare -m: the inode number was
// reused). The last line is a real lost_events line from a deliberately overflowed perf buffer.
const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
    .split("\n")
    .slice(0, -1);
const lines = fixture("bpftrace-0.17.jsonl");
const countLines = fixture("bpftrace-0.17-counts.jsonl");

function kinds(ls: string[]): string[] {
  return ls.map((l) => parseLine(l).kind);
}

function mapOf(p: ParsedLine): Record<string, number> {
  if (p.kind !== "map") throw new Error(`expected a map line, got ${p.kind}`);
  return p.entries;
}

describe("parseLine on real bpftrace output", () => {
  it("classifies every captured line without drops", () => {
    expect(kinds(lines)).toEqual([
      "attached",
      "ready",
      "exec",
      "exec",
      "exec",
      "exec",
      "exec",
      "map",
      "final",
      "map",
      "end",
      "blank",
      "lost",
    ]);
  });

  it("decodes exec tuples, including escaped quotes and backslashes", () => {
    const parsed = lines.map(parseLine);
    const execs = parsed.flatMap((p) => (p.kind === "exec" ? [p.event] : []));
    expect(execs[2]).toEqual({
      type: "exec",
      pid: 2752,
      ppid: 2650,
      mntns: 4026532177,
      comm: "c32",
      filename: "/tmp/secprof-bpfwork/c32",
    });
    expect(execs[4]?.comm).toBe('we"ird tr\\ue');
    expect(execs[4]?.filename).toBe('/tmp/secprof-bpfwork/we"ird tr\\ue');
    // The host namespace was excluded in the kernel in that run: its execs carry n = 0.
    expect(parsed.flatMap((p) => (p.kind === "exec" ? [p.attached] : []))).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
  });

  it("reads lost_events and attached_probes", () => {
    expect(parseLine(lines[12] ?? "")).toEqual({ kind: "lost", events: 448 });
    expect(parseLine(lines[0] ?? "")).toEqual({ kind: "attached", probes: 5 });
  });

  it("reads tick lines as bpftrace and the CO-RE loader print them, and drops malformed ones", () => {
    // Captured from exec-tracker.bt under bpftrace 0.17 and from core/out/secprof-bpf.
    expect(parseLine(`{"type": "value", "data": ["tick",21672880644274]}`)).toEqual({
      kind: "tick",
      monoNs: 21672880644274,
    });
    expect(parseLine(`{"type": "value", "data": ["tick", 21667802817937]}`)).toEqual({
      kind: "tick",
      monoNs: 21667802817937,
    });
    for (const bad of [`["tick",-1]`, `["tick","1"]`, `["tick",1.5]`])
      expect(parseLine(`{"type": "value", "data": ${bad}}`)).toMatchObject({
        kind: "drop",
        reason: "schema",
      });
  });

  it("finds the three ABIs in the map keys", () => {
    const entries = mapOf(parseLine(lines[9] ?? ""));
    const decoded = Object.keys(entries).map(decodeKey);
    expect(decoded.every((d) => d.ok)).toBe(true);
    const archs = new Set(decoded.flatMap((d) => (d.ok ? [d.arch] : [])));
    expect(archs).toEqual(new Set(["x86_64", "x86", "x32"]));
    // The 32-bit binary's getppid (i386 nr 64) and the x32 getppid (0x40000000 | 110).
    expect(entries["4026532177,1,64"]).toBe(1);
    expect(entries[`4026532177,0,${X32_BIT | 110}`]).toBe(1);
  });
});

describe("parseLine on malformed input", () => {
  const cases: [string, string][] = [
    ["invalid_json", "not json at all"],
    ["invalid_json", '{"type": "map", "data": {"@sc": {"1,0,2": 1}'],
    ["invalid_json", "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace."],
    ["schema", '{"type": "map", "data": {"@other": {"1,0,2": 1}}}'],
    ["schema", '{"type": "map", "data": {"@sc": {"1,0,2": -1}}}'],
    ["schema", '{"type": "map", "data": {"@sc": {"1,0,2": "1"}}}'],
    ["schema", '{"type": "value", "data": ["exec", 1, 2, 3, "comm"]}'],
    ["schema", '{"type": "value", "data": ["exec", 1, 2, 3, "c", "f"]}'],
    ["schema", '{"type": "value", "data": ["exec", -1, 2, 3, "c", "f", 1]}'],
    ["schema", '{"type": "value", "data": ["exec", 1, 2, 4294967296, "c", "f", 1]}'],
    ["schema", '{"type": "value", "data": ["bogus", 0]}'],
    ["schema", '{"type": "lost_events", "data": {"events": "many"}}'],
    ["schema", "[1, 2, 3]"],
    ["schema", "42"],
    ["unexpected", '{"type": "printf", "data": "hello\\n"}'],
    [
      "unexpected",
      '{"type": "helper_error", "helper": "map_update_elem", "retcode": -7, "line": 5, "col": 54}',
    ],
  ];
  it.each(cases)("counts %s for %s", (reason, line) => {
    expect(parseLine(line)).toMatchObject({ kind: "drop", reason });
  });

  it("never throws, whatever the line", () => {
    const junk = ["\u0000", "{", "}", "null", "[]", '{"type": null}', "\uFFFD\uFFFD", "x".repeat(100_000)];
    for (const l of junk) expect(() => parseLine(l)).not.toThrow();
  });

  it("keeps drop details short", () => {
    const p = parseLine(`{${"x".repeat(10_000)}`);
    expect(p.kind === "drop" && p.detail.length <= 201).toBe(true);
  });

  it("treats whitespace-only lines as blank", () => {
    expect(parseLine("")).toEqual({ kind: "blank" });
    expect(parseLine("  \r")).toEqual({ kind: "blank" });
  });
});

describe("decodeKey", () => {
  it.each([
    ["4026531840,0,59", { ok: true, mntns: 4026531840, arch: "x86_64", nr: 59 }],
    ["4026531840,1,11", { ok: true, mntns: 4026531840, arch: "x86", nr: 11 }],
    [`4026531840,0,${X32_BIT + 59}`, { ok: true, mntns: 4026531840, arch: "x32", nr: X32_BIT + 59 }],
    ["1,0,-1", { ok: false, reason: "bad_nr" }],
    ["1,0,5000", { ok: false, reason: "bad_nr" }],
    ["1,1,1073741883", { ok: false, reason: "bad_nr" }],
    ["1,0,99999999999999999999", { ok: false, reason: "bad_nr" }],
    ["4294967296,0,1", { ok: false, reason: "bad_key" }],
    ["1,2,3", { ok: false, reason: "bad_key" }],
    ["1,0", { ok: false, reason: "bad_key" }],
    ["a,b,c", { ok: false, reason: "bad_key" }],
    ["1,0,2,3", { ok: false, reason: "bad_key" }],
  ] as const)("%s", (key, expected) => {
    expect(decodeKey(key)).toEqual(expected);
  });
});

describe("SnapshotDiffer", () => {
  it("reports each key once in seen mode although every snapshot repeats it", () => {
    const d = new SnapshotDiffer();
    const first = d.apply(mapOf(parseLine(lines[7] ?? "")));
    const final = d.apply(mapOf(parseLine(lines[9] ?? "")));
    expect(first.drops).toEqual([]);
    expect(first.events.length).toBe(first.keys);
    expect(first.events.every((e) => e.count === 1)).toBe(true);
    // The final map holds the same keys (nothing new happened in that namespace).
    expect(final.keys).toBe(first.keys);
    expect(final.events).toEqual([]);
  });

  it("turns cumulative counts into deltas", () => {
    const d = new SnapshotDiffer();
    const ev = (r: { events: SyscallsEvent[] }) => r.events.map((e) => [e.arch, e.nr, e.count]);
    expect(ev(d.apply({ "7,0,1": 3, "7,1,64": 1 }))).toEqual([
      ["x86_64", 1, 3],
      ["x86", 64, 1],
    ]);
    expect(ev(d.apply({ "7,0,1": 3, "7,1,64": 4, "7,0,0": 2 }))).toEqual([
      ["x86", 64, 3],
      ["x86_64", 0, 2],
    ]);
    // A smaller value means the map was recreated: count from zero again.
    expect(ev(d.apply({ "7,0,1": 1 }))).toEqual([["x86_64", 1, 1]]);
  });

  it("reads real count-mode output: three getppid calls from the 32-bit binary", () => {
    const r = new SnapshotDiffer().apply(mapOf(parseLine(countLines[0] ?? "")));
    expect(r.drops).toEqual([]);
    expect(r.events.find((e) => e.arch === "x86" && e.nr === 64)?.count).toBe(3);
    expect(r.events.find((e) => e.arch === "x86_64" && e.nr === 59)?.count).toBe(1);
  });

  it("drops a bad key once, not once per snapshot", () => {
    const d = new SnapshotDiffer();
    expect(d.apply({ "1,0,-1": 1, "1,0,2": 1 }).drops).toEqual([{ reason: "bad_nr", key: "1,0,-1" }]);
    expect(d.apply({ "1,0,-1": 1, "1,0,2": 1 }).drops).toEqual([]);
    expect(d.apply({ "x,y": 1 }).drops).toEqual([{ reason: "bad_key", key: "x,y" }]);
  });
});
