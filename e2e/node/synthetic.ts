import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, renameSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { syscallNames, syscallNumber } from "@secprof/core";
// Test support of the recorder package (a procfs tree under a configurable root), not exported by it.
import { FakeProc } from "../../packages/recorder/src/attribution/fake-proc.js";
import { readCheckpoint } from "./audit.js";
import { type Pod, SimCluster } from "./cluster.js";
import { until } from "./procs.js";

export { FakeProc };

/**
 * A node whose kernel is simulated, for fault tests that need exact control: the audit log is a
 * file the test writes (auditd's format, its rotation by rename), and /proc is a fake tree that
 * puts the test's pids in kubelet-style container cgroups. The recorder is the real daemon.
 */
export class AuditLogWriter {
  private serial = 0;
  lines = 0;

  constructor(
    readonly file: string,
    /** This node's clock offset (audit timestamps come from each node's own clock). */
    readonly skewMs = 0,
  ) {
    writeFileSync(file, "", { mode: 0o600 });
  }

  /** One kernel SECCOMP record (SCMP_ACT_LOG) for `pid` calling `name` on x86_64. */
  seccomp(pid: number, name: string): string {
    const nr = syscallNumber("x86_64", name);
    if (nr === undefined) throw new Error(`unknown syscall ${name}`);
    const t = (Date.now() + this.skewMs) / 1000;
    return `type=SECCOMP msg=audit(${t.toFixed(3)}:${++this.serial}): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=${pid} comm="work" exe="/usr/bin/work" sig=0 arch=c000003e syscall=${nr} compat=0 ip=0x7f2a3c1e9d17 code=0x7ffc0000\n`;
  }

  append(lines: string[]): void {
    if (lines.length === 0) return;
    appendFileSync(this.file, lines.join(""));
    this.lines += lines.length;
  }

  /** auditd's rotation: audit.log.(n-1) → .n … audit.log → .1, then a new empty audit.log. */
  rotate(keep: number): void {
    for (let i = keep - 1; i >= 1; i--)
      if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    renameSync(this.file, `${this.file}.1`);
    writeFileSync(this.file, "", { mode: 0o600 });
  }

  truncate(): void {
    truncateSync(this.file, 0);
  }
}

/** A pod whose container is a fake process: its pid sits in the container's cgroup in the fake /proc. */
export async function fakePod(
  cluster: SimCluster,
  proc: FakeProc,
  o: { namespace: string; name: string; app: string; node: string; pid: number },
): Promise<Pod> {
  const pod = await cluster.createPod(o.namespace, o.name, o.app, SimCluster.podBody(o.name, o.app, o.node));
  const id = randomBytes(32).toString("hex");
  proc.spawn({ pid: o.pid, start: 100, cgroup: `0::/kubepods/besteffort/pod${pod.metadata?.uid}/${id}\n` });
  await cluster.reportRunning(pod, id);
  return pod;
}

/**
 * A syscall stream with a known answer: `uniques` distinct syscalls, each first seen at an evenly
 * spaced point of `total` lines, the other lines repeating earlier ones. Losing any stretch of
 * the stream loses a syscall the profile must have.
 */
export function syscallStream(total: number, uniques: number, seed: number): string[] {
  const names = syscallNames("x86_64").filter((n) => !n.startsWith("_"));
  const rand = seeded(seed);
  const pool = [...names];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  const chosen = pool.slice(0, Math.min(uniques, pool.length));
  const every = Math.max(1, Math.floor(total / chosen.length));
  const out: string[] = [];
  let next = 0;
  for (let i = 0; i < total; i++) {
    if (i % every === 0 && next < chosen.length) out.push(chosen[next++] as string);
    else out.push(chosen[Math.floor(rand() * Math.max(1, next))] as string);
  }
  return out;
}

/** Waits until the recorder's checkpoint is at the end of the live audit log (everything read and sent). */
export async function checkpointAtEnd(
  checkpointFile: string,
  auditLog: string,
  timeoutMs = 30_000,
): Promise<void> {
  await until(
    `the checkpoint ${checkpointFile} to reach the end of ${auditLog}`,
    async () => {
      const cp = readCheckpoint(checkpointFile);
      const st = statSync(auditLog);
      return cp !== undefined && cp.ino === st.ino && cp.offset === st.size ? true : undefined;
    },
    timeoutMs,
  );
}

/** The seeded pseudo-random numbers of a test (printed, so a failure can be replayed). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
