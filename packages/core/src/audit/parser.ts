import type { AppArmorEvent, AvcEvent, RawEvent } from "../schemas/events.js";
import { tokenize, untrustedString } from "./fields.js";
import { apparmorEvent, avcEvent } from "./interpret.js";
import { type DropReason, type Header, type InputFormat, MAX_LINE, parseHeader } from "./line-form.js";
import { CONTEXT_TYPES, isUserSpaceType } from "./record-types.js";
import {
  bodyEndOf,
  classifyLine,
  head,
  LINE_IGNORED,
  LINE_MALFORMED,
  LINE_SECCOMP,
  LINE_TOO_LONG,
  LINE_UNSUPPORTED,
  LINE_UNTRUSTED,
  maybeSeccomp,
} from "./scan.js";
import { record, seccompAt, seccompRecord } from "./seccomp-fast.js";

export type AuditKind = "syscall" | "avc" | "apparmor";

/** The verdict an `APPARMOR_*` record type stands for when the record has no `apparmor=` field. */
const APPARMOR_TYPE_VERDICTS: Readonly<Record<string, string>> = {
  APPARMOR_AUDIT: "AUDIT",
  APPARMOR_ALLOWED: "ALLOWED",
  APPARMOR_DENIED: "DENIED",
  APPARMOR_HINT: "HINT",
  APPARMOR_STATUS: "STATUS",
  APPARMOR_ERROR: "ERROR",
};

export interface ParsedEvent {
  /** 1-based input line of the record the event came from. */
  line: number;
  event: RawEvent;
}

export interface ParserOptions {
  format?: InputFormat;
  /** Only these kinds are interpreted; with `syscall` alone the SECCOMP fast path is used. */
  kinds?: readonly AuditKind[];
  /**
   * AVC and AppArmor events take exe/comm from their event's SYSCALL record, so they wait for the event's
   * EOE (or `groupTimeoutMs`) and every context record is kept until then (default). `false`: they are
   * emitted at once, with exe/comm as their own record has them (AVC: null), and no record is grouped;
   * for consumers that do not read those fields. Lines are then classified in place as with `syscall` alone.
   */
  groupContext?: boolean;
  /** A multi-record event with no EOE is flushed once a record this much newer arrives. */
  groupTimeoutMs?: number;
  /** At most this many events wait for their EOE; the oldest is flushed beyond it. */
  maxInFlight?: number;
  /**
   * With `syscall` alone, read auditd-form lines in place (default). `false` sends every line down the
   * general path; both give the same events and stats (tests compare them).
   */
  fastPath?: boolean;
}

export interface ParserStats {
  lines: number;
  events: Record<AuditKind, number>;
  dropped: Record<DropReason, number>;
  /**
   * Valid kernel records that were not asked for (e.g. AVC when only `syscall` is wanted), or only
   * context (SYSCALL, PATH, CWD, EXECVE, PROCTITLE, SOCKADDR; EOE).
   */
  ignored: number;
  /**
   * Multi-record events cut short: evicted for capacity, or flushed with context but no SYSCALL. Only
   * kept when AVC or AppArmor events are wanted: with `syscall` alone nothing is grouped.
   */
  incomplete: number;
}

interface Group {
  id: string;
  serial: number;
  /** The next group whose id has the same serial (other time, or another host). */
  next: Group | undefined;
  ts: number;
  /** Still in `groups` (the arrival queue keeps closed ones until it passes them). */
  open: boolean;
  primaries: { line: number; event: AvcEvent | AppArmorEvent }[];
  /** The event's SYSCALL record: tokenized only if a primary needs its exe/comm. */
  syscallLine: string | undefined;
  syscallStart: number;
  syscallEnd: number;
  context: boolean;
}

/** First letter of an auditd-form line's record type (`[node=N ]type=NAME`) is A or U. */
function isPrimaryType(line: string): boolean {
  const t = line.charCodeAt(0) === 116 /* t */ ? 5 : line.indexOf(" type=") + 6;
  const c = line.charCodeAt(t);
  return c === 65 /* A */ || c === 85 /* U */;
}

function emptyStats(): ParserStats {
  return {
    lines: 0,
    events: { syscall: 0, avc: 0, apparmor: 0 },
    dropped: {
      not_audit: 0,
      unsupported_type: 0,
      malformed: 0,
      untrusted_source: 0,
      unknown_arch: 0,
      unknown_syscall: 0,
      too_long: 0,
    },
    ignored: 0,
    incomplete: 0,
  };
}

/**
 * Streaming audit-record parser. Pure: it keeps only the in-flight event table, never throws
 * on input, and reports every line it cannot use in `stats.dropped` by reason.
 */
export class AuditParser {
  readonly stats: ParserStats = emptyStats();
  private readonly format: InputFormat;
  private readonly want: ReadonlySet<AuditKind>;
  /** `want.has("syscall")`, asked of every line. */
  private readonly wantSyscall: boolean;
  private readonly fastOnly: boolean;
  /** On the in-place path, AVC/AppArmor records are wanted: they take the general path. */
  private readonly fastPrimaries: boolean;
  /** Lines of the auditd form can be scanned in place (formats `auto` and `auditd`). */
  private readonly inPlace: boolean;
  /** Context records are grouped only when a primary (AVC, AppArmor) can use them. */
  private readonly grouping: boolean;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  /**
   * Open groups by the serial of their audit id (a number hashes faster than the id), those of one
   * serial chained. `open` counts them.
   */
  private readonly groups = new Map<number, Group>();
  private open = 0;
  /** Open groups in arrival order (closed ones are skipped from `head` on). */
  private queue: Group[] = [];
  private head = 0;

  constructor(opts: ParserOptions = {}) {
    this.format = opts.format ?? "auto";
    this.want = new Set(opts.kinds ?? ["syscall", "avc", "apparmor"]);
    this.wantSyscall = this.want.has("syscall");
    this.inPlace = this.format === "auto" || this.format === "auditd";
    const primaries = this.want.has("avc") || this.want.has("apparmor");
    this.grouping = primaries && opts.groupContext !== false;
    this.fastOnly = !this.grouping && opts.fastPath !== false;
    this.fastPrimaries = primaries;
    this.timeoutMs = opts.groupTimeoutMs ?? 2000;
    this.maxInFlight = opts.maxInFlight ?? 4096;
  }

  /** Parses one line (without its newline); complete events are appended to `out`. */
  push(line: string, lineNo: number, out: ParsedEvent[]): void {
    this.stats.lines++;
    if (this.fastOnly) this.fast(line, lineNo, out);
    else this.general(line, lineNo, out);
  }

  /**
   * Nothing is grouped. A SECCOMP line in the kernel's layout is read by one regex; other
   * auditd-form lines are classified by their header, exactly as the general path would count them.
   * Anything else takes the general path, which, with nothing to group, gives the same result.
   */
  private fast(line: string, lineNo: number, out: ParsedEvent[]): void {
    if (!this.inPlace) return this.general(line, lineNo, out);
    if (this.wantSyscall && maybeSeccomp(line) && line.length <= MAX_LINE) {
      const ev = seccompRecord(line);
      if (ev !== undefined) return this.emit(lineNo, ev, out);
    }
    switch (classifyLine(line)) {
      case LINE_SECCOMP: {
        if (!this.wantSyscall) return this.ignore();
        const s = head.bodyStart;
        const id = line.slice(head.idStart, head.idEnd);
        return this.emit(lineNo, seccompAt(line, "auditd", head.ts, id, s, bodyEndOf(line, s)), out);
      }
      case LINE_IGNORED:
        // AVC, APPARMOR_* and USER_AVC are the ignored types that start with A or U.
        if (this.fastPrimaries && isPrimaryType(line)) return this.general(line, lineNo, out);
        return this.ignore();
      case LINE_UNSUPPORTED:
        return this.drop("unsupported_type");
      case LINE_UNTRUSTED:
        return this.drop("untrusted_source");
      case LINE_MALFORMED:
        return this.drop("malformed");
      case LINE_TOO_LONG:
        return this.drop("too_long");
      default:
        return this.general(line, lineNo, out);
    }
  }

  private general(line: string, lineNo: number, out: ParsedEvent[]): void {
    if (this.inPlace && this.wantSyscall && maybeSeccomp(line) && line.length <= MAX_LINE) {
      // A SECCOMP line in the kernel's layout: header and body in one regex (same result as below).
      const ev = seccompRecord(line);
      if (ev !== undefined) {
        this.expire(record.ts, out);
        return this.emit(lineNo, ev, out);
      }
    }
    const h = parseHeader(line, this.format);
    if (typeof h === "string") return this.drop(h);
    if (isUserSpaceType(h.type, h.typeNr) && h.type !== "USER_AVC") return this.drop("untrusted_source");
    if (h.auditId !== null && h.ts !== null) this.expire(h.ts, out);

    switch (h.type) {
      case "SECCOMP":
        if (!this.wantSyscall) return this.ignore();
        return this.emit(lineNo, seccompAt(line, h.source, h.ts, h.auditId, h.bodyStart, h.bodyEnd), out);
      case "USER_AVC":
        return this.userAvc(line, lineNo, h, out);
      case "AVC":
        if (line.startsWith("avc:", h.bodyStart)) {
          if (!this.want.has("avc")) return this.ignore();
          return this.primary(h, lineNo, avcEvent(h, line, h.bodyStart + 4, h.bodyEnd, false), out);
        }
        return this.apparmor(line, lineNo, h, out);
      case "EOE":
        if (h.auditId !== null) this.close(h.auditId, h.serial, true, out);
        return this.ignore();
      default:
        if (h.type.startsWith("APPARMOR_")) return this.apparmor(line, lineNo, h, out);
        if (CONTEXT_TYPES.has(h.type)) return this.context(line, h);
        return this.drop("unsupported_type");
    }
  }

  /** Flushes events still waiting for their EOE (end of input, or on a timer with `nowMs`). */
  flush(out: ParsedEvent[], nowMs = Number.POSITIVE_INFINITY): void {
    this.expire(nowMs, out);
  }

  private apparmor(line: string, lineNo: number, h: Header, out: ParsedEvent[]): void {
    if (!this.want.has("apparmor")) return this.ignore();
    const f = tokenize(line, h.bodyStart, h.bodyEnd);
    // Kernels before AppArmor moved to AVC records (2.6.x era; libapparmor still parses them)
    // wrote `type=APPARMOR_ALLOWED` (1502) etc. with no `apparmor=` field: the type is the verdict.
    const verdict = f.has("apparmor") ? undefined : APPARMOR_TYPE_VERDICTS[h.type];
    if (!f.has("apparmor") && verdict === undefined)
      return this.drop(h.type === "AVC" ? "malformed" : "unsupported_type");
    this.primary(h, lineNo, apparmorEvent(h, f, verdict), out);
  }

  /** USER_AVC: the kernel wraps the object manager's own text in `msg='…'`. */
  private userAvc(line: string, lineNo: number, h: Header, out: ParsedEvent[]): void {
    if (!this.want.has("avc")) return this.ignore();
    const start = line.indexOf("msg='", h.bodyStart);
    // D-Bus also reports its own AppArmor mediation as USER_AVC: that is not kernel evidence.
    if (start >= 0 && line.startsWith("apparmor=", start + 5)) return this.drop("untrusted_source");
    const inner = start < 0 ? -1 : line.indexOf("avc:", start);
    if (inner < 0) return this.drop("malformed");
    const end = line.lastIndexOf("'");
    this.emit(lineNo, avcEvent(h, line, inner + 4, end > inner ? end : h.bodyEnd, true), out);
  }

  private primary(
    h: Header,
    lineNo: number,
    ev: AvcEvent | AppArmorEvent | DropReason,
    out: ParsedEvent[],
  ): void {
    if (typeof ev === "string") return this.drop(ev);
    if (!this.grouping || h.auditId === null || h.ts === null) return this.emit(lineNo, ev, out);
    this.group(h.auditId, h.serial, h.ts).primaries.push({ line: lineNo, event: ev });
    this.capacity(out);
  }

  private context(line: string, h: Header): void {
    this.stats.ignored++;
    if (!this.grouping || h.auditId === null || h.ts === null) return;
    const g = this.group(h.auditId, h.serial, h.ts);
    g.context = true;
    if (h.type === "SYSCALL") {
      g.syscallLine = line;
      g.syscallStart = h.bodyStart;
      g.syscallEnd = h.bodyEnd;
    }
  }

  private find(id: string, serial: number): Group | undefined {
    for (let g = this.groups.get(serial); g !== undefined; g = g.next) if (g.id === id) return g;
    return undefined;
  }

  private group(id: string, serial: number, ts: number): Group {
    let g = this.find(id, serial);
    if (g === undefined) {
      g = {
        id,
        serial,
        next: this.groups.get(serial),
        ts,
        open: true,
        primaries: [],
        syscallLine: undefined,
        syscallStart: 0,
        syscallEnd: 0,
        context: false,
      };
      this.groups.set(serial, g);
      this.open++;
      this.queue.push(g);
      // Closed groups behind an old open one stay queued: keep them to a multiple of the open ones.
      if (this.queue.length > 4 * this.maxInFlight + 1024) {
        this.queue = this.queue.filter((q) => q.open);
        this.head = 0;
      }
    }
    return g;
  }

  /** The oldest open group (there is one while `open` > 0); drops closed ones before it. */
  private oldest(): Group | undefined {
    const q = this.queue;
    let h = this.head;
    while (h < q.length && q[h]?.open !== true) h++;
    if (h > 1024 && h * 2 > q.length) {
      q.splice(0, h);
      h = 0;
    }
    this.head = h;
    return q[h];
  }

  private capacity(out: ParsedEvent[]): void {
    while (this.open > this.maxInFlight) {
      const g = this.oldest();
      if (g === undefined) break;
      this.stats.incomplete++;
      this.closeGroup(g, true, out);
    }
  }

  /** Groups are kept in arrival order, so expiry stops at the first young one. */
  private expire(nowMs: number, out: ParsedEvent[]): void {
    if (this.open === 0) return;
    for (let g = this.oldest(); g !== undefined && g.ts + this.timeoutMs <= nowMs; g = this.oldest())
      this.closeGroup(g, false, out);
  }

  private close(id: string, serial: number, complete: boolean, out: ParsedEvent[]): void {
    const g = this.find(id, serial);
    if (g !== undefined) this.closeGroup(g, complete, out);
  }

  private closeGroup(g: Group, complete: boolean, out: ParsedEvent[]): void {
    const head = this.groups.get(g.serial);
    if (head === g) {
      if (g.next === undefined) this.groups.delete(g.serial);
      else this.groups.set(g.serial, g.next);
    } else {
      let prev = head;
      while (prev !== undefined && prev.next !== g) prev = prev.next;
      if (prev !== undefined) prev.next = g.next;
    }
    g.next = undefined;
    g.open = false;
    this.open--;
    // Kernels of the 6.x line end many multi-record events without an EOE (observed here), so a
    // timed-out group that got its SYSCALL record is whole; missing context means records lost.
    if (!complete && g.context && g.syscallLine === undefined) this.stats.incomplete++;
    if (g.primaries.length === 0) return;
    const syscall =
      g.syscallLine === undefined ? undefined : tokenize(g.syscallLine, g.syscallStart, g.syscallEnd);
    for (const p of g.primaries) {
      // The AVC itself has no exe; the SYSCALL record of the same event does.
      if (syscall !== undefined) {
        if (p.event.exe === null) p.event.exe = untrustedString(syscall.get("exe"));
        if (p.event.comm === null) p.event.comm = untrustedString(syscall.get("comm"));
      }
      this.emit(p.line, p.event, out);
    }
  }

  private emit(line: number, ev: RawEvent | DropReason, out: ParsedEvent[]): void {
    if (typeof ev === "string") return this.drop(ev);
    if (ev.kind === "syscall" || ev.kind === "avc" || ev.kind === "apparmor") this.stats.events[ev.kind]++;
    out.push({ line, event: ev });
  }

  private drop(reason: DropReason | Header): void {
    if (typeof reason === "string") this.stats.dropped[reason]++;
    else this.stats.dropped.unsupported_type++;
  }

  private ignore(): void {
    this.stats.ignored++;
  }
}
