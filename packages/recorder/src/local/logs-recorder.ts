import { randomInt, randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { AuditParser, type ParsedEvent, SyscallSet } from "@secprof/core";
import { AuditLogFollower, DEFAULT_AUDIT_LOG } from "../sources/audit-log-follower.js";
import { auditMarker, auditStatus, raiseBacklog } from "./audit-status.js";
import type { Launch, LocalRecorder, LocalResult, Progress } from "./local-recorder.js";

const LAUNCHER = fileURLToPath(new URL("../../launch/log-exec.py", import.meta.url));
const MIN_BACKLOG = 8192;
const MAX_SESSIONS = 256;

export interface LogsRecorderOptions {
  auditLog?: string;
  /** How long to wait for the end marker after CMD exits. */
  drainTimeoutMs?: number;
  /**
   * CMD is an OCI runtime starting a container whose own seccomp profile logs every syscall:
   * the launcher adds no filter, so what is recorded is exactly what runs under the container's
   * filter — the runtime's init after it installed the filter (comm `runtimeComm`, counted as
   * the runtime's) and the workload.
   */
  runtimeComm?: string;
}

/**
 * Records CMD through the audit log: CMD runs in a fresh audit session under a filter that logs
 * every syscall, and only SECCOMP records of that session count.
 */
export class LogsRecorder implements LocalRecorder {
  readonly name = "logs";
  private readonly path: string;
  private readonly drainTimeoutMs: number;
  private readonly runtimeComm: string | undefined;
  /** SECCOMP records per audit session: records can arrive before the launcher reports its own. */
  private readonly sessions = new Map<number, SyscallSet>();
  /** The runtime's share of each session (only with `runtimeComm`). */
  private readonly runtimeSessions = new Map<number, SyscallSet>();
  private readonly parser = new AuditParser({ format: "auditd", kinds: ["syscall"] });
  private readonly marker = `secprof-end-${randomUUID()}`;
  private readonly loginuid = randomInt(2_000_000_000, 4_000_000_000);
  private follower: AuditLogFollower | undefined;
  private pump: Promise<void> | undefined;
  private markerSeen: (() => void) | undefined;
  private ses: number | undefined;
  private lostBefore = 0;
  private events = 0;
  private overflow = 0;

  constructor(opts: LogsRecorderOptions = {}) {
    this.path = opts.auditLog ?? DEFAULT_AUDIT_LOG;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.runtimeComm = opts.runtimeComm;
  }

  async start(): Promise<string | undefined> {
    if (process.getuid?.() !== 0)
      return "the logs recorder needs root (it starts an audit session and reads the audit log)";
    const st = await auditStatus();
    if (typeof st === "string") return st;
    if (st.enabled === 0) return "auditing is disabled in the kernel: run `auditctl -e 1` (and start auditd)";
    if (st.backlogLimit < MIN_BACKLOG) await raiseBacklog(MIN_BACKLOG);
    this.lostBefore = st.lost;
    try {
      // The follower waits for a missing log to appear (right for a daemon); here it is an error.
      await access(this.path, constants.R_OK);
      this.follower = await AuditLogFollower.open({ path: this.path, startAt: "end" });
    } catch (err) {
      return `cannot read the audit log ${this.path}: ${(err as Error).message} (is auditd running? pass --audit-log)`;
    }
    this.pump = this.consume(this.follower);
    return undefined;
  }

  launch(argv: readonly string[]): Launch {
    const mode = this.runtimeComm === undefined ? [] : ["--session-only"];
    return {
      file: "/usr/bin/python3",
      args: [LAUNCHER, ...mode, String(this.loginuid), "3", ...argv],
      statusFd: true,
    };
  }

  spawned(_pid: number, status: string): void {
    const m = /ses=(\d+)/.exec(status);
    if (m?.[1] !== undefined) this.ses = Number(m[1]);
  }

  progress(): Progress {
    return { syscalls: this.mine().size, events: this.events };
  }

  async stop(): Promise<LocalResult> {
    const incomplete: string[] = [];
    const seen = new Promise<void>((resolve) => {
      this.markerSeen = resolve;
    });
    let drained = false;
    try {
      await auditMarker(this.marker);
      drained = await Promise.race([seen.then(() => true), delay(this.drainTimeoutMs).then(() => false)]);
    } catch (err) {
      incomplete.push(`could not mark the end of the recording: ${(err as Error).message}`);
    }
    if (!drained)
      incomplete.push(
        `audit log did not deliver the end marker within ${this.drainTimeoutMs} ms (auditd stopped or log elsewhere?)`,
      );
    await this.follower?.close();
    await this.pump;
    const out: ParsedEvent[] = [];
    this.parser.flush(out);
    this.take(out);
    const st = await auditStatus();
    const kernelLost = typeof st === "string" ? 0 : Math.max(0, st.lost - this.lostBefore);
    if (typeof st === "string") incomplete.push(`kernel lost counter unreadable: ${st}`);
    if (kernelLost > 0)
      incomplete.push(
        `the kernel dropped ${kernelLost} audit records during the recording (backlog overflow; raise auditctl -b)`,
      );
    if (this.ses === undefined) incomplete.push("the launcher did not report its audit session");
    const d = this.parser.stats.dropped;
    const parserDropped = d.malformed + d.unknown_arch + d.unknown_syscall + d.too_long;
    if (d.unknown_syscall + d.unknown_arch > 0)
      incomplete.push(
        `${d.unknown_syscall + d.unknown_arch} records named a syscall or arch this build does not know`,
      );
    if (this.overflow > 0)
      incomplete.push(`${this.overflow} SECCOMP records of other sessions were not kept apart`);
    const runtime = this.runtimeComm === undefined ? {} : { runtime: this.mine(this.runtimeSessions) };
    return {
      syscalls: this.mine(),
      ...runtime,
      loss: { kernelLost, parserDropped, attributionMisses: 0, truncated: 0 },
      incomplete,
    };
  }

  private async consume(follower: AuditLogFollower): Promise<void> {
    const out: ParsedEvent[] = [];
    let lineNo = 0;
    for await (const batch of follower) {
      for (const line of batch.lines) {
        this.parser.push(line, ++lineNo, out);
        if (line.includes(this.marker)) this.markerSeen?.();
      }
      this.take(out);
      out.length = 0;
    }
  }

  private mine(sets = this.sessions): SyscallSet {
    return (this.ses === undefined ? undefined : sets.get(this.ses)) ?? new SyscallSet();
  }

  private take(events: ParsedEvent[]): void {
    for (const { event } of events) {
      if (event.kind !== "syscall" || event.ses === null) continue;
      const sets =
        this.runtimeComm !== undefined && event.comm === this.runtimeComm
          ? this.runtimeSessions
          : this.sessions;
      let set = sets.get(event.ses);
      if (set === undefined) {
        // Other SCMP_ACT_LOG users on the machine are rare; bound the sessions kept anyway.
        if (this.sessions.size >= MAX_SESSIONS) {
          if (this.ses === undefined) this.overflow++;
          continue;
        }
        set = new SyscallSet();
        sets.set(event.ses, set);
      }
      if (event.ses === this.ses || this.ses === undefined) this.events++;
      set.add(event.arch, event.name);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
