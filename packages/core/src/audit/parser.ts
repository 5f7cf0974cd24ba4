import type { AppArmorEvent, AvcEvent, RawEvent } from "../schemas/events.js";
import { type Fields, tokenize, untrustedString } from "./fields.js";
import { apparmorEvent, avcEvent, seccompEvent } from "./interpret.js";
import { type DropReason, type Header, type InputFormat, parseHeader } from "./line-form.js";
import { CONTEXT_TYPES, isUserSpaceType } from "./record-types.js";
import { seccompFast } from "./seccomp-fast.js";

export type AuditKind = "syscall" | "avc" | "apparmor";

export interface ParsedEvent {
  /** 1-based input line of the record the event came from. */
  line: number;
  event: RawEvent;
}

export interface ParserOptions {
  format?: InputFormat;
  /** Only these kinds are interpreted; with `syscall` alone the SECCOMP fast path is used. */
  kinds?: readonly AuditKind[];
  /** A multi-record event with no EOE is flushed once a record this much newer arrives. */
  groupTimeoutMs?: number;
  /** At most this many events wait for their EOE; the oldest is flushed beyond it. */
  maxInFlight?: number;
}

export interface ParserStats {
  lines: number;
  events: Record<AuditKind, number>;
  dropped: Record<DropReason, number>;
  /** Records of wanted kinds that were valid but not asked for, or only context. */
  ignored: number;
  /** Multi-record events cut short: evicted for capacity, or flushed with context but no SYSCALL. */
  incomplete: number;
}

interface Group {
  ts: number;
  primaries: { line: number; event: AvcEvent | AppArmorEvent }[];
  syscall: Fields | undefined;
  context: boolean;
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
  private readonly fastOnly: boolean;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly groups = new Map<string, Group>();

  constructor(opts: ParserOptions = {}) {
    this.format = opts.format ?? "auto";
    this.want = new Set(opts.kinds ?? ["syscall", "avc", "apparmor"]);
    this.fastOnly = this.want.size === 1 && this.want.has("syscall");
    this.timeoutMs = opts.groupTimeoutMs ?? 2000;
    this.maxInFlight = opts.maxInFlight ?? 4096;
  }

  /** Parses one line (without its newline); complete events are appended to `out`. */
  push(line: string, lineNo: number, out: ParsedEvent[]): void {
    this.stats.lines++;
    if (this.fastOnly && !line.includes("SECCOMP") && !line.includes("=1326")) {
      this.drop(parseHeader(line, this.format));
      return;
    }
    const h = parseHeader(line, this.format);
    if (typeof h === "string") return this.drop(h);
    if (isUserSpaceType(h.type, h.typeNr) && h.type !== "USER_AVC") return this.drop("untrusted_source");
    if (h.auditId !== null && h.ts !== null) this.expire(h.ts, out);

    switch (h.type) {
      case "SECCOMP":
        if (!this.want.has("syscall")) return this.ignore();
        return this.emit(
          lineNo,
          this.fastOnly ? seccompFast(line, h) : seccompEvent(h, tokenize(line, h.bodyStart, h.bodyEnd)),
          out,
        );
      case "USER_AVC":
        return this.userAvc(line, lineNo, h, out);
      case "AVC":
        if (line.startsWith("avc:", h.bodyStart)) {
          if (!this.want.has("avc")) return this.ignore();
          return this.primary(h, lineNo, avcEvent(h, line, h.bodyStart + 4, h.bodyEnd, false), out);
        }
        return this.apparmor(line, lineNo, h, out);
      case "EOE":
        if (h.auditId !== null) this.close(h.auditId, true, out);
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
    if (!f.has("apparmor")) return this.drop(h.type === "AVC" ? "malformed" : "unsupported_type");
    this.primary(h, lineNo, apparmorEvent(h, f), out);
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
    if (h.auditId === null || h.ts === null) return this.emit(lineNo, ev, out);
    this.group(h.auditId, h.ts).primaries.push({ line: lineNo, event: ev });
    this.capacity(out);
  }

  private context(line: string, h: Header): void {
    this.stats.ignored++;
    if (h.auditId === null || h.ts === null) return;
    const g = this.group(h.auditId, h.ts);
    g.context = true;
    if (h.type === "SYSCALL") g.syscall = tokenize(line, h.bodyStart, h.bodyEnd);
  }

  private group(id: string, ts: number): Group {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { ts, primaries: [], syscall: undefined, context: false };
      this.groups.set(id, g);
    }
    return g;
  }

  private capacity(out: ParsedEvent[]): void {
    while (this.groups.size > this.maxInFlight) {
      const oldest = this.groups.keys().next();
      if (oldest.done) break;
      this.stats.incomplete++;
      this.close(oldest.value, true, out);
    }
  }

  /** Groups are kept in arrival order, so expiry stops at the first young one. */
  private expire(nowMs: number, out: ParsedEvent[]): void {
    for (const [id, g] of this.groups) {
      if (g.ts + this.timeoutMs > nowMs) break;
      this.close(id, false, out);
    }
  }

  private close(id: string, complete: boolean, out: ParsedEvent[]): void {
    const g = this.groups.get(id);
    if (g === undefined) return;
    this.groups.delete(id);
    // Kernels of the 6.x line end many multi-record events without an EOE (observed here), so a
    // timed-out group that got its SYSCALL record is whole; missing context means records lost.
    if (!complete && g.context && g.syscall === undefined) this.stats.incomplete++;
    for (const p of g.primaries) {
      // The AVC itself has no exe; the SYSCALL record of the same event does.
      if (g.syscall !== undefined) {
        if (p.event.exe === null) p.event.exe = untrustedString(g.syscall.get("exe"));
        if (p.event.comm === null) p.event.comm = untrustedString(g.syscall.get("comm"));
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
