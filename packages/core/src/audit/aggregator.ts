import { ARCH_NAMES, type ArchName } from "../syscalls/index.js";
import { type InputFormat, MAX_LINE } from "./line-form.js";
import { AuditParser, type ParsedEvent, type ParserStats } from "./parser.js";
import {
  archIndex,
  classifyAt,
  DENSE_SIZE,
  denseIndex,
  denseNumber,
  LINE_IGNORED,
  LINE_MALFORMED,
  LINE_TOO_LONG,
  LINE_UNSUPPORTED,
  LINE_UNTRUSTED,
  maybeSeccompAt,
  nameAt,
  readSeccompAt,
  rec,
} from "./scan.js";
import { unquotedString } from "./seccomp-fast.js";

/**
 * Receives one call per SECCOMP record: the audit session and pid (null when the record has none, or
 * not as a number), the arch and number the kernel reported, the syscall's name for that arch, and
 * whether the record's comm is `markComm`. Called synchronously from `push`/`pushAt`.
 */
export type SeccompSink = (
  ses: number | null,
  pid: number | null,
  arch: ArchName,
  nr: number,
  name: string,
  commMarked: boolean,
) => void;

export interface SeccompAggregatorOptions {
  format?: InputFormat;
  /**
   * Read each record's pid for the sink (default). A sink that attributes by session only can do
   * without: the sink then gets null for pid.
   */
  pid?: boolean;
  /** Tell the sink which records have this comm (e.g. an OCI runtime's init, counted apart). */
  markComm?: string;
}

/**
 * The SECCOMP path for recorders that only need which syscalls ran, per arch and attribution key
 * (session, pid): no event objects. For an auditd-form line it checks the whole SECCOMP record with one
 * regex and reads ses, pid, arch and syscall where they lie, handing numbers and the syscall table's own
 * name string to the sink; any other record is counted from its header. Nothing is allocated per line
 * on these paths, and with `pushAt` (fed by `LineSplitter.eachRange`) not even the line's string.
 *
 * It reads exactly what `new AuditParser({ kinds: ["syscall"] })` reads: only kernel SECCOMP records
 * count (user-space records and syslog lines of other programs never do, nothing after auditd's 0x1d
 * separator is read), the sink sees the ses, pid, arch, nr and name of each event that parser would
 * emit, in order, and `stats` are that parser's stats (`events.syscall` = sink calls). Lines it does not
 * decide itself (other line forms, numeric types, SECCOMP records laid out otherwise) go through such a
 * parser.
 */
export class SeccompAggregator {
  /** Counts of every line pushed, as `AuditParser` keeps them. */
  readonly stats: ParserStats;
  private readonly inPlace: boolean;
  /** pid goes to the sink. */
  private readonly withPid: boolean;
  /** pid is read: for the sink, or to find comm (which follows it). */
  private readonly readPid: boolean;
  private readonly mark: string | undefined;
  /** `markComm` as the kernel writes it when it needs no hex-encoding: `"name"`. */
  private readonly markQuoted: string;
  /** The general path, sharing `stats`. */
  private readonly parser: AuditParser;
  private readonly events: ParsedEvent[] = [];

  constructor(
    private readonly sink: SeccompSink,
    opts: SeccompAggregatorOptions = {},
  ) {
    const format = opts.format ?? "auto";
    this.parser = new AuditParser({ format, kinds: ["syscall"] });
    this.stats = this.parser.stats;
    this.inPlace = format === "auto" || format === "auditd";
    this.mark = opts.markComm;
    this.withPid = opts.pid !== false;
    this.readPid = this.withPid || opts.markComm !== undefined;
    this.markQuoted = `"${opts.markComm ?? ""}"`;
  }

  /** Takes one line (without its newline). */
  push(line: string): void {
    this.pushAt(line, 0, line.length);
  }

  /**
   * Takes the line `text[start, end)`: `end` is at a newline or the end of `text`, and there is no
   * newline before it (what `LineSplitter.eachRange` hands out). Read in place, without a string of
   * its own unless it takes the general path.
   */
  pushAt(text: string, start: number, end: number): void {
    if (this.inPlace) {
      const stats = this.stats;
      if (
        maybeSeccompAt(text, start) &&
        end - start <= MAX_LINE &&
        readSeccompAt(text, start, this.readPid)
      ) {
        stats.lines++;
        const ai = rec.arch;
        const arch = ARCH_NAMES[ai];
        if (arch === undefined) {
          stats.dropped.unknown_arch++;
          return;
        }
        const nr = rec.nr;
        const name = nameAt(ai, nr);
        if (name === undefined) {
          stats.dropped.unknown_syscall++;
          return;
        }
        stats.events.syscall++;
        const pid = this.withPid ? rec.pid : null;
        this.sink(rec.ses, pid, arch, nr, name, this.mark !== undefined && this.marked(text, rec.comm));
        return;
      }
      switch (classifyAt(text, start, end)) {
        case LINE_IGNORED:
          stats.lines++;
          stats.ignored++;
          return;
        case LINE_UNSUPPORTED:
          stats.lines++;
          stats.dropped.unsupported_type++;
          return;
        case LINE_UNTRUSTED:
          stats.lines++;
          stats.dropped.untrusted_source++;
          return;
        case LINE_MALFORMED:
          stats.lines++;
          stats.dropped.malformed++;
          return;
        case LINE_TOO_LONG:
          stats.lines++;
          stats.dropped.too_long++;
          return;
      }
    }
    const events = this.events;
    this.parser.push(start === 0 && end === text.length ? text : text.slice(start, end), 0, events);
    for (const { event: ev } of events) {
      if (ev.kind !== "syscall") continue;
      const pid = this.withPid ? ev.pid : null;
      this.sink(ev.ses, pid, ev.arch, ev.nr, ev.name, this.mark !== undefined && ev.comm === this.mark);
    }
    events.length = 0;
  }

  /** Whether the comm whose raw value starts at `s` reads as `markComm` (`untrustedString`). */
  private marked(line: string, s: number): boolean {
    const quoted = this.markQuoted;
    if (line.startsWith(quoted, s) && line.charCodeAt(s + quoted.length) === 32) return true;
    if (line.charCodeAt(s) === 34) return false; // quoted, another name
    return unquotedString(line.slice(s, line.indexOf(" ", s))) === this.mark;
  }
}

/** Which syscall numbers one key made on one arch: a byte per number in the dense range, then a set. */
interface Seen {
  bits: Uint8Array;
  more: Set<number> | undefined;
}

interface KeyRecord {
  key: number | null;
  /** By arch index (`ARCH_NAMES` order). */
  archs: (Seen | undefined)[];
}

/**
 * A sink that keeps which syscalls each key (the audit session, as `sink` passes it) made, per arch:
 * the usual fold for seccomp recording. A byte per syscall number, so adding costs no hashing.
 */
export class SyscallTally {
  /** Keys that are u32 (sessions), by their int32 bits; others (null, out of range) apart. */
  private readonly byU32 = new Map<number, KeyRecord>();
  private readonly byOther = new Map<number | null, KeyRecord>();
  private readonly records: KeyRecord[] = [];
  private readonly recent: (KeyRecord | undefined)[] = new Array<KeyRecord | undefined>(64).fill(undefined);
  private lastArch: ArchName | undefined;
  private lastAi = -1;

  /** Pass this to `SeccompAggregator`: it keys by session. */
  readonly sink: SeccompSink = (ses, _pid, arch, nr) => this.add(ses, arch, nr);

  add(key: number | null, arch: ArchName, nr: number): void {
    // Records of a few sessions interleave: a small direct-mapped cache saves most map lookups.
    const slot = key === null ? 0 : key & 63;
    let r = this.recent[slot];
    if (r === undefined || r.key !== key) {
      r = this.record(key);
      this.recent[slot] = r;
    }
    let ai = this.lastAi;
    if (arch !== this.lastArch) {
      ai = archIndex(arch);
      if (ai < 0) return;
      this.lastArch = arch;
      this.lastAi = ai;
    }
    let seen = r.archs[ai];
    if (seen === undefined) {
      seen = { bits: new Uint8Array(DENSE_SIZE), more: undefined };
      r.archs[ai] = seen;
    }
    const i = denseIndex(ai, nr);
    if (i >= 0) seen.bits[i] = 1;
    else {
      seen.more ??= new Set();
      seen.more.add(nr);
    }
  }

  private record(key: number | null): KeyRecord {
    const u32 = key !== null && key >= 0 && key <= 0xffffffff && Number.isInteger(key);
    let r = u32 ? this.byU32.get(key | 0) : this.byOther.get(key);
    if (r === undefined) {
      r = { key, archs: [] };
      if (u32) this.byU32.set(key | 0, r);
      else this.byOther.set(key, r);
      this.records.push(r);
    }
    return r;
  }

  /** Keys in the order first seen. */
  keys(): (number | null)[] {
    return this.records.map((r) => r.key);
  }

  /** The names each arch saw for `key`, by syscall number (empty when it saw none). */
  get(key: number | null): ReadonlyMap<ArchName, ReadonlySet<string>> {
    const out = new Map<ArchName, Set<string>>();
    const r = this.records.find((x) => x.key === key);
    if (r === undefined) return out;
    for (const [ai, seen] of r.archs.entries()) {
      const arch = ARCH_NAMES[ai];
      if (seen === undefined || arch === undefined) continue;
      const nrs: number[] = [];
      for (let i = 0; i < DENSE_SIZE; i++) if (seen.bits[i] === 1) nrs.push(denseNumber(ai, i));
      nrs.push(...[...(seen.more ?? [])].sort((x, y) => x - y));
      const names = new Set<string>();
      for (const nr of nrs) {
        const name = nameAt(ai, nr);
        if (name !== undefined) names.add(name);
      }
      out.set(arch, names);
    }
    return out;
  }

  /** Every (key, arch, name) seen, each once: keys in the order first seen, arches in `ARCH_NAMES` order. */
  *entries(): IterableIterator<[number | null, ArchName, string]> {
    for (const r of this.records)
      for (const [arch, names] of this.get(r.key)) for (const name of names) yield [r.key, arch, name];
  }
}
