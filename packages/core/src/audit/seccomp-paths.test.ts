import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { AUDIT_FIXTURES, fixtureLines } from "@secprof/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RawEvent } from "../schemas/events.js";
import type { ArchName } from "../syscalls/index.js";
import { SeccompAggregator, type SeccompAggregatorOptions, SyscallTally } from "./aggregator.js";
import { tokenize } from "./fields.js";
import { seccompEvent } from "./interpret.js";
import { type DropReason, type InputFormat, parseHeader } from "./line-form.js";
import { LineSplitter } from "./lines.js";
import { AuditParser, type ParsedEvent, type ParserOptions } from "./parser.js";
import { isUserSpaceType } from "./record-types.js";

function logFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return logFiles(p);
    return f.endsWith(".log") ? [relative(AUDIT_FIXTURES, p)] : [];
  });
}

/** Every line of every captured or derived fixture (auditd, dmesg, kmsg, syslog, journald). */
const FIXTURE_LINES = logFiles(AUDIT_FIXTURES).flatMap((f) => fixtureLines(f));
const SECCOMP_LINES = FIXTURE_LINES.filter((l) => l.includes("SECCOMP") || l.includes("=1326"));

function parse(lines: readonly string[], opts: ParserOptions = {}) {
  const p = new AuditParser(opts);
  const out: ParsedEvent[] = [];
  for (const [i, l] of lines.entries()) p.push(l, i + 1, out);
  p.flush(out);
  return { events: out.map((e) => e.event), stats: p.stats };
}

type Call = [
  ses: number | null,
  pid: number | null,
  arch: ArchName,
  nr: number,
  name: string,
  marked: boolean,
];

function aggregate(lines: readonly string[], opts: SeccompAggregatorOptions = {}) {
  const calls: Call[] = [];
  const agg = new SeccompAggregator((...call) => calls.push(call), opts);
  for (const l of lines) agg.push(l);
  return { calls, stats: agg.stats };
}

/** Encodes a string the way the kernel's audit_log_untrustedstring does. */
function kernelString(s: string): string {
  const bytes = Buffer.from(s, "utf8");
  const needsHex = bytes.some((b) => b === 0x22 || b < 0x21 || b > 0x7e);
  return needsHex ? bytes.toString("hex").toUpperCase() : `"${s}"`;
}

function setField(line: string, key: string, value: string): string {
  return line.replace(new RegExp(`(^|[ :])${key}=("[^"]*"|[^ \\x1d]*)`), `$1${key}=${value}`);
}

/**
 * Lines derived from the fixtures: as captured, or changed the ways real logs and attackers change
 * them (other numbers, arches, hex-encoded or odd strings, AppArmor labels, node= prefixes, lost
 * enrichment, forged user messages, other programs' syslog lines, cut or garbled text).
 */
const derivedLine: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.constantFrom(...FIXTURE_LINES), fc.constantFrom(...SECCOMP_LINES)),
    fc.array(
      fc.oneof(
        fc.record({ k: fc.constant("ses"), v: fc.oneof(fc.nat(5), fc.constant(4294967295)).map(String) }),
        fc.record({ k: fc.constant("pid"), v: fc.nat(4_000_000).map(String) }),
        fc.record({
          k: fc.constant("syscall"),
          v: fc.oneof(fc.nat(460), fc.constant(0x40000000 + 520), fc.constant(99999)).map(String),
        }),
        fc.record({
          k: fc.constant("arch"),
          v: fc.constantFrom("c000003e", "40000003", "c00000b7", "C000003E", "0c000003e", "deadbeef", "0"),
        }),
        fc.record({
          k: fc.constantFrom("comm", "exe"),
          v: fc.oneof(
            fc.string({ maxLength: 12 }).map((s) => kernelString(s || "x")),
            fc.constantFrom('"a b"', '"x" pid=1 syscall=59"', "(null)", '"', "'q'"),
          ),
        }),
        fc.record({ k: fc.constant("subj"), v: fc.constantFrom("unconfined", "docker-default (enforce)") }),
        // The values the SECCOMP regex takes as literals (no capture), and values that start like them.
        fc.record({
          k: fc.constant("code"),
          v: fc.constantFrom(
            "0x7ffc0000",
            "0x7ffc00001",
            "0x7ffc0000x",
            "0X7FFC0000",
            "0x7fff0000",
            "0x50001",
          ),
        }),
        fc.record({ k: fc.constant("ses"), v: fc.constantFrom("42949672950", "4294967295", "429496729") }),
      ),
      { maxLength: 3 },
    ),
    fc.constantFrom(
      "as-is",
      "node",
      "strip-enriched",
      "subj",
      "forged-user",
      "other-program",
      "kernel-syslog",
      "truncate",
      "insert",
      "stamp",
    ),
    fc.nat(400),
    fc.string({ maxLength: 6 }),
  )
  .map(([base, edits, how, at, text]) => {
    let line = base;
    for (const { k, v } of edits) line = setField(line, k, v);
    switch (how) {
      case "node":
        return `node=worker-${at % 3} ${line}`;
      case "strip-enriched":
        return line.split("\x1d")[0] ?? line;
      case "subj":
        return line.replace(" pid=", " subj=cri-containerd.apparmor.d (enforce) pid=");
      case "forged-user":
        return `type=USER msg=audit(1795704541.818:9): pid=1 uid=0 auid=0 ses=1 msg='${line} res=success'`;
      case "other-program":
        return `Nov 26 14:47:01 node1 myapp[77]: ${line}`;
      case "kernel-syslog":
        return `Nov 26 14:47:01 node1 kernel: audit: ${line.replace(/^type=SECCOMP msg=/, "type=1326 ")}`;
      case "truncate":
        return line.slice(0, at);
      case "insert":
        return line.slice(0, at) + text + line.slice(at);
      case "stamp":
        return line.replace(
          /audit\([^)]*\)/,
          ["audit(1.5:3)", "audit(.5:3)", "audit(1e3.5:3)", "audit(1.5:)"][at % 4] ?? "",
        );
      default:
        return line;
    }
  });

/**
 * Lines where a shortcut could read differently from the tokenizer: bare words glued to a value, a
 * value that runs into the 0x1d part, spaces in quoted values, duplicate keys, long or odd audit ids.
 */
function edgeCases(base: string): string[] {
  const kernel = base.split("\x1d")[0] ?? base;
  return [
    base.replace(" pid=", " subj=x pid=5 foo pid="),
    base.replace(" pid=", " subj=docker-default (enforce) pid="),
    base.replace(" pid=", " subj=x (pid=5) pid="),
    base.replace(/ compat=/, " foo compat="),
    base.replace(/ syscall=(\d+)/, " syscall=$1x"),
    base.replace(/ ses=(\d+)/, " ses=$1 ses=9"),
    base.replace(/ pid=(\d+)/, " pid=$1 (x)"),
    base.replace(/ comm=\S+/, ' comm="a b"'),
    base.replace(/ comm=\S+/, ' comm="a" exe="b'),
    base.replace(/ comm=\S+/, ' comm="a\x1db"'),
    base.replace(/ exe=\S+/, " exe='/bin/x'"),
    base.replace(/ exe=\S+/, " exe="),
    base.replace(/ arch=(\S+)/, " arch=0000000000$1"),
    base.replace(/ arch=(\S+)/, " arch=1$1"),
    base.replace(/ arch=(\S+)/, ' arch="$1"'),
    base.replace(/ syscall=(\d+)/, " syscall=0000000000000000$1"),
    base.replace(/ ses=(\d+)/, " ses=12345678901234567"),
    base.replace(/ ses=(\d+)/, " ses=42949672950"),
    base.replace(/ ses=(\d+)/, " ses=4294967295"),
    base.replace(/ arch=(\S+)/, " arch=c000003e0"),
    base.replace(/ arch=(\S+)/, " arch=c000003e"),
    `${kernel} junk`,
    `${kernel}  `,
    `${kernel.replace(/ code=\S+/, " code=0x7ffc0000 junk")}`,
    `${kernel.replace(/ code=\S+/, " code=0x7ffc0000")}`,
    `${kernel.replace(/ code=\S+/, " code=0x7ffc0000  ")}`,
    `${kernel.replace(/ code=\S+/, " code=0x7ffc00001")}`,
    `${kernel.replace(/ code=\S+/, " code=0x7ffc0000x")}`,
    `${kernel.replace(/ code=\S+/, " code=0X7FFC0000")}`,
    `${kernel.replace(/ code=\S+/, " code=7ffc0000")}`,
    `${kernel.replace(/ code=\S+/, " code=0x")}`,
    `${kernel.replace(/ code=\S+/, " code=0x1234567890abcdef")}`,
    base.replace(/audit\([^)]*\)/, "audit(1795704541.818:12345678901234567890123)"),
    base.replace(/audit\([^)]*\)/, "audit(1795704541.818:123456789012345678901234)"),
    base.replace(/audit\([^)]*\)/, "audit(1795704541.8180000000000000:1)"),
    base.replace(/\): /, "):  "),
    base.replace(/\): /, "):"),
    base.replace("type=SECCOMP ", "type=SECCOMP  "),
    base.replace("type=SECCOMP", "type=1326"),
    base.replace("type=SECCOMP", "type=UNKNOWN[1326]"),
    base.replace("type=SECCOMP", "type=SECCOMPX"),
    `node= ${base}`,
    `node=a b ${base}`,
    `node=houses=1 ${base}`,
    `node=a-rather-long-host-name-with-ses=7-in-it ${base}`,
    `nodex=a ${base}`,
    base.replace(/^type=SECCOMP/, "type=USER_AVC"),
    base.replace(/^type=SECCOMP/, "type=USERX"),
    base.replace(/^type=SECCOMP/, "type=APPARMOR_FOO"),
    base.replace(/^type=SECCOMP/, "type=ANOM_LOGIN_FAILURES"),
    base.replace(/^type=SECCOMP/, "type=CRED_ACQ"),
    base.replace(/^type=SECCOMP/, "type=EOE"),
    base.replace(/^type=SECCOMP/, "type="),
  ];
}

/** One SECCOMP record per arch code in the fixtures (x86_64, i386, …), with and without 0x1d. */
const EDGE_BASES = [
  ...new Map(
    SECCOMP_LINES.filter((l) => l.startsWith("type=SECCOMP")).map((l) => [
      `${/ arch=(\S+)/.exec(l)?.[1]} ${l.includes("\x1d")}`,
      l,
    ]),
  ).values(),
];
const EDGE_CASES = EDGE_BASES.flatMap(edgeCases);

const lineMix = fc.array(fc.oneof({ weight: 4, arbitrary: derivedLine }, fc.constantFrom(...EDGE_CASES)), {
  maxLength: 40,
});
const formats = fc.constantFrom<InputFormat>("auto", "auditd", "syslog", "journal");

/**
 * The reading every SECCOMP path must give: the general header parse, the tokenizer and
 * `seccompEvent`, one line at a time (SECCOMP records are single-record events).
 */
function reference(lines: readonly string[], format: InputFormat): (RawEvent | DropReason)[] {
  return lines.flatMap((line) => {
    const h = parseHeader(line, format);
    if (typeof h === "string" || h.type !== "SECCOMP" || isUserSpaceType(h.type, h.typeNr)) return [];
    return [seccompEvent(h, tokenize(line, h.bodyStart, h.bodyEnd))];
  });
}

describe("the SECCOMP shortcuts read what the general code reads", () => {
  it("AuditParser's syscall events and drops are the tokenizer's, in every mode", () => {
    fc.assert(
      fc.property(lineMix, formats, (lines, format) => {
        const ref = reference(lines, format);
        const events = ref.filter((e) => typeof e !== "string");
        const dropped = (reason: DropReason) => ref.filter((e) => e === reason).length;
        for (const opts of [{}, { kinds: ["syscall"] }, { kinds: ["syscall"], fastPath: false }] as const) {
          const { events: got, stats } = parse(lines, { format, ...opts });
          expect(got.filter((e) => e.kind === "syscall")).toEqual(events);
          for (const reason of ["unknown_arch", "unknown_syscall"] as const)
            expect(stats.dropped[reason]).toBe(dropped(reason));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the SECCOMP fast path counts every line as the general path does", () => {
    fc.assert(
      fc.property(lineMix, formats, (lines, format) => {
        const fast = parse(lines, { format, kinds: ["syscall"] });
        const general = parse(lines, { format, kinds: ["syscall"], fastPath: false });
        expect(fast.events).toEqual(general.events);
        expect(fast.stats).toEqual(general.stats);
      }),
      { numRuns: 300 },
    );
  });

  it("without grouping, the in-place path gives the general path's events and counts for any kinds", () => {
    const kindSets = fc.subarray(["syscall", "avc", "apparmor"] as const);
    fc.assert(
      fc.property(lineMix, formats, kindSets, (lines, format, kinds) => {
        const fast = parse(lines, { format, kinds, groupContext: false });
        const general = parse(lines, { format, kinds, groupContext: false, fastPath: false });
        expect(fast.events).toEqual(general.events);
        expect(fast.stats).toEqual(general.stats);
      }),
      { numRuns: 300 },
    );
  });

  it("lines handed over as ranges of a larger text are read only up to their newline", () => {
    const other = ["SYSCALL", "USER_START", "CONFIG_CHANGE", "LOGIN"].flatMap((t) =>
      FIXTURE_LINES.filter((l) => l.startsWith(`type=${t} `)).slice(0, 1),
    );
    expect(other).toHaveLength(4);
    const lines = [...EDGE_BASES, ...other].flatMap((b) => [
      "node=a",
      `x ${b}`,
      b.slice(0, 60),
      b.slice(60),
      b.replace(/ syscall=(\d+).*/, " syscall=$1"),
      " compat=0",
      b.replace(/ comm=\S+.*/, ' comm="abc'),
      `d" ${b.replace(/^.* exe=/, "exe=")}`,
      b,
    ]);
    const perLine = aggregate(lines);
    const ranged: Call[] = [];
    const agg = new SeccompAggregator((...call) => ranged.push(call));
    const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(""), "latin1");
    new LineSplitter(1 << 20, 0).eachRange(bytes, (t, from, to) => agg.pushAt(t, from, to));
    expect(ranged).toEqual(perLine.calls);
    expect(agg.stats).toEqual(perLine.stats);
    expect(perLine.calls.length).toBe(parse(lines, { kinds: ["syscall"] }).events.length);
  });

  it("edge cases: the same events and counts on every path", () => {
    for (const format of ["auto", "auditd"] as const) {
      const ref = reference(EDGE_CASES, format).filter((e) => typeof e !== "string");
      const general = parse(EDGE_CASES, { format, kinds: ["syscall"], fastPath: false });
      expect(parse(EDGE_CASES, { format }).events.filter((e) => e.kind === "syscall")).toEqual(ref);
      expect(parse(EDGE_CASES, { format, kinds: ["syscall"] })).toEqual(general);
      expect(general.events).toEqual(ref);
      const { calls, stats } = aggregate(EDGE_CASES, { format });
      expect(stats).toEqual(general.stats);
      expect(calls).toEqual(
        general.events.map((e) => (e.kind === "syscall" ? [e.ses, e.pid, e.arch, e.nr, e.name, false] : [])),
      );
    }
  });
});

describe("SeccompAggregator agrees with AuditParser", () => {
  it("same (ses, arch, name) triples as the full parser, for any mix of fixture-derived lines", () => {
    fc.assert(
      fc.property(lineMix, formats, (lines, format) => {
        const triple = (ses: number | null, arch: string, name: string) => JSON.stringify([ses, arch, name]);
        const full = new Set(
          parse(lines, { format }).events.flatMap((e) =>
            e.kind === "syscall" ? [triple(e.ses, e.arch, e.name)] : [],
          ),
        );
        const agg = new Set(
          aggregate(lines, { format }).calls.map(([ses, , arch, , name]) => triple(ses, arch, name)),
        );
        expect(agg).toEqual(full);
      }),
      { numRuns: 400 },
    );
  });

  it("one sink call per event of the SECCOMP parser, in order, and the same stats", () => {
    fc.assert(
      fc.property(lineMix, formats, (lines, format) => {
        const fast = parse(lines, { format, kinds: ["syscall"] });
        const { calls, stats } = aggregate(lines, { format });
        expect(calls).toEqual(
          fast.events.map((e) =>
            e.kind === "syscall" ? [e.ses, e.pid, e.arch, e.nr, e.name, false] : ["not a syscall event"],
          ),
        );
        expect(stats).toEqual(fast.stats);
        // The same when the lines come as ranges of decoded pieces (LineSplitter.eachRange).
        const ranged: Call[] = [];
        const agg = new SeccompAggregator((...call) => ranged.push(call), { format });
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(""), "latin1");
        new LineSplitter(1 << 20, 0).eachRange(bytes, (t, from, to) => agg.pushAt(t, from, to));
        expect(ranged).toEqual(calls);
        expect(agg.stats).toEqual(fast.stats);
        const noPid = aggregate(lines, { format, pid: false });
        expect(noPid.calls).toEqual(calls.map(([ses, , ...rest]) => [ses, null, ...rest]));
        expect(noPid.stats).toEqual(fast.stats);
      }),
      { numRuns: 400 },
    );
  });

  it("marks the records of one comm, quoted or hex-encoded", () => {
    const base = SECCOMP_LINES.find((l) => l.startsWith("type=SECCOMP")) ?? "";
    const lines = ["runc:[2:INIT]", "sh", "a b", "runc:[2:INIT]x"].map((c) =>
      setField(base, "comm", kernelString(c)),
    );
    const marked = aggregate(lines, { markComm: "runc:[2:INIT]" }).calls.map((c) => c[5]);
    expect(marked).toEqual([true, false, false, false]);
    expect(aggregate(lines, { markComm: "a b" }).calls.map((c) => c[5])).toEqual([false, false, true, false]);
    const noPid = aggregate(lines, { markComm: "sh", pid: false }).calls;
    expect(noPid.map((c) => [c[1], c[5]])).toEqual([
      [null, false],
      [null, true],
      [null, false],
      [null, false],
    ]);
  });
});

describe("SeccompAggregator takes nothing that is not the kernel's", () => {
  it("counts nothing from forged user messages or other programs' syslog lines", () => {
    expect(aggregate(fixtureLines("user-forged.log")).calls).toEqual([]);
    const journald = aggregate(fixtureLines("derived/journald-short-audit.log"), {
      markComm: "secprof-forged",
    });
    expect(journald.calls.length).toBeGreaterThan(0);
    expect(journald.calls.some((c) => c[5])).toBe(false);
    const { calls, stats } = aggregate(
      SECCOMP_LINES.filter((l) => l.startsWith("type=SECCOMP")).flatMap((l) => [
        `type=USER msg=audit(1795704541.818:9): pid=1 uid=0 auid=0 ses=1 msg='${l}'`,
        `type=USER_AVC msg=audit(1795704541.818:9): pid=1 uid=0 auid=0 ses=1 msg='${l}'`,
        `Nov 26 14:47:01 node1 logger: ${l}`,
        `Nov 26 14:47:01 node1 myapp[77]: audit: ${l.replace(/^type=SECCOMP msg=/, "type=1326 ")}`,
      ]),
    );
    expect(calls).toEqual([]);
    expect(stats.events.syscall).toBe(0);
    expect(stats.dropped.untrusted_source).toBeGreaterThan(0);
  });

  it("never reads auditd's enriched fields after 0x1d", () => {
    const base = SECCOMP_LINES.find((l) => l.startsWith("type=SECCOMP") && l.includes("\x1d")) ?? "";
    const kernel = base.split("\x1d")[0] ?? "";
    // The kernel part loses its syscall and arch; the enriched part offers lower-case look-alikes.
    const cut = kernel.replace(/ arch=\S+ syscall=\S+/, "");
    const { calls, stats } = aggregate([`${cut}\x1d arch=c000003e syscall=59 ses=1 pid=1`]);
    expect(calls).toEqual([]);
    expect(stats.dropped.malformed).toBe(1);
  });

  it("does not let a value smuggle a field", () => {
    const base = SECCOMP_LINES.find((l) => l.startsWith("type=SECCOMP")) ?? "";
    const real = aggregate([base]).calls[0];
    for (const comm of [
      kernelString('x" ses=7 pid=1 arch=40000003 syscall=11'),
      '"x ses=7 pid=1 arch=40000003 syscall=11"',
    ]) {
      const { calls } = aggregate([setField(base, "comm", comm)]);
      expect(calls).toEqual([real]);
    }
  });
});

describe("SyscallTally", () => {
  it("keeps each (key, arch, name) once", () => {
    const t = new SyscallTally();
    t.sink(3, 1, "x86_64", 1, "write", false);
    t.sink(3, 2, "x86_64", 0, "read", false);
    t.sink(3, 2, "x86_64", 1, "write", false);
    t.sink(3, 2, "x86", 11, "execve", false);
    t.sink(null, 2, "x86_64", 1, "write", false);
    t.add(4294967295, "aarch64", 56);
    t.add(-1, "x32", 0x40000000 + 39);
    t.add(2 ** 40, "arm", 0xf0002);
    expect([...t.entries()]).toEqual([
      [3, "x86_64", "read"],
      [3, "x86_64", "write"],
      [3, "x86", "execve"],
      [null, "x86_64", "write"],
      [4294967295, "aarch64", "openat"],
      [-1, "x32", "getpid"],
      [2 ** 40, "arm", "cacheflush"],
    ]);
    expect(t.keys()).toEqual([3, null, 4294967295, -1, 2 ** 40]);
    expect([...(t.get(3).get("x86") ?? [])]).toEqual(["execve"]);
    expect(t.get(5).size).toBe(0);
  });
});
