#!/usr/bin/env node
// Composition root of the per-node recorder daemon: the only place that reads the environment,
// builds adapters and touches `process`. Environment: daemon/config.ts. Host mode (one Linux
// host without Kubernetes) when SECPROF_RECORDINGS_DIR is set and no kubeconfig is (daemon-kit
// host/mode.ts): recordings from that directory, pods from the runc state roots
// SECPROF_RUNC_ROOTS (host/config.ts, host/adapters.ts).
import { machine, release } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import type { ParsedEvent, RawEvent } from "@secprof/core";
import {
  hostMode,
  loadConfig,
  newRegistry,
  observabilityServer,
  type RecordingView,
  RecordingWatcher,
} from "@secprof/daemon-kit";
import { pino } from "pino";
import { Counter, Gauge } from "prom-client";
import { AttributionResolver } from "./attribution/resolver.js";
import { recorderParser } from "./daemon/audit-parse.js";
import { NodeAppArmorRecorder } from "./daemon/bpf-apparmor.js";
import { BpfSyscallAttributor } from "./daemon/bpf-syscalls.js";
import { RecorderConfig } from "./daemon/config.js";
import { EXEC_TRACKER_PROGRAM, ExecTracker } from "./daemon/exec-tracker.js";
import { logBarrier, settle } from "./daemon/log-barrier.js";
import { auditFactKey, RecorderCore } from "./daemon/recorder-core.js";
import { RecorderLoss } from "./daemon/recorder-loss.js";
import { recorderHostAdapters, registerRecorderHostMetrics } from "./host/adapters.js";
import type { RecorderPodIndex } from "./host/recorder-pod-index.js";
import { KubePodIndex } from "./kube/pod-index.js";
import { BullmqObservationQueue } from "./queue/bullmq-queue.js";
import { DeltaBatcher } from "./queue/delta-batcher.js";
import { AuditLogFollower } from "./sources/audit-log-follower.js";
import { AppArmorBpfSource } from "./sources/bpf/apparmor-source.js";
import { BpftraceSource, type BpftraceSourceOptions } from "./sources/bpf/bpftrace-source.js";
import { loadCheckpoint, resumeFrom, saveCheckpoint } from "./sources/checkpoint-store.js";

const log = pino({ name: "secprof-recorder" });
/** Longest a pod's end waits for the audit log to be read (profiles are due ≤ 2 s after it). */
const POD_END_WAIT_MS = 1500;
const cfg = loadConfig(RecorderConfig, process.env);
const hostAdapters = hostMode(process.env)
  ? recorderHostAdapters(process.env, { nodeName: cfg.NODE_NAME, procRoot: cfg.SECPROF_PROC_ROOT, log })
  : undefined;
const kc = new KubeConfig();
if (hostAdapters === undefined) kc.loadFromDefault();

const podIndex: RecorderPodIndex =
  hostAdapters?.podIndex ??
  new KubePodIndex({
    kubeConfig: kc,
    nodeName: cfg.NODE_NAME,
    onError: (err, source) => log.warn({ err, source }, "pod watch"),
  });
const recordings: RecordingView =
  hostAdapters?.recordings ??
  new RecordingWatcher({
    kubeConfig: kc,
    report: false,
    onError: (err, during) => log.warn({ err, during }, "recording watch"),
  });
const queue = await BullmqObservationQueue.open({
  connection: cfg.SECPROF_REDIS_URL,
  spool: { file: cfg.SECPROF_SPOOL },
  logger: log,
});
// uname -r / uname -m of the node (the recorder shares the host's kernel), for bundle manifests.
const host = { kernel: release(), arch: machine() };
const batcher = new DeltaBatcher({ recorder: cfg.NODE_NAME, host });
const loss = new RecorderLoss();
const core = new RecorderCore(
  cfg.NODE_NAME,
  {
    recordings: (ns) => recordings.list(ns),
    podFacts: (ns, pod) => podIndex.podFacts(ns, pod),
    generateName: (ns, pod) => podIndex.pod(ns, pod)?.generateName,
  },
  batcher,
  queue,
  host,
);
const logsMode = cfg.SECPROF_RECORDERS.has("logs");
const bpfMode = cfg.SECPROF_RECORDERS.has("bpf");
/** Whether an exec tracker may name the namespaces of exited processes (see SECPROF_EXEC_WAIT_MS). */
const execWaitMs = bpfMode || cfg.SECPROF_EXEC_TRACKER !== "off" ? cfg.SECPROF_EXEC_WAIT_MS : 0;
const resolver: AttributionResolver<RawEvent> = new AttributionResolver<RawEvent>({
  podIndex,
  procRoot: cfg.SECPROF_PROC_ROOT,
  exitedWaitMs: execWaitMs,
  // Without a running tracker no exec is coming: records stop waiting for one at once.
  execWatermark: () => (bpf?.state === "running" ? tracker.watermark() : Date.now()),
  factKey: auditFactKey,
  onAttributed: core.onAuditEvent,
  onError: (err) => log.warn({ err }, "attribution sink"),
});
const tracker = new ExecTracker({ resolver });
const bpfSyscalls = new BpfSyscallAttributor({
  resolver,
  tracker,
  deliver: (pod, arch, name) => core.onBpfSyscall(pod, arch, name),
});
/** Where the audit log has been read and processed up to (saved once sent). */
let pendingCheckpoint: Parameters<typeof saveCheckpoint>[1] | undefined;
/** Set once bpftrace is attached (below). */
let bpf: BpftraceSource | undefined;
/** The AppArmor eBPF recorder, set once attached (below). */
let apparmor: NodeAppArmorRecorder | undefined;

const parser = recorderParser();
const registry = newRegistry("recorder");
if (hostAdapters !== undefined) registerRecorderHostMetrics(registry, hostAdapters);
const linesRead = new Counter({
  name: "secprof_recorder_lines_total",
  help: "audit log lines read",
  registers: [registry],
});
new Gauge({
  name: "secprof_recorder_dropped_total",
  help: "audit lines dropped by the parser, by reason",
  labelNames: ["reason"],
  registers: [registry],
  collect() {
    for (const [reason, n] of Object.entries(parser.stats.dropped)) this.set({ reason }, n);
  },
});
new Gauge({
  name: "secprof_recorder_attribution_misses",
  help: "events that could not be attributed to a pod, by reason",
  labelNames: ["reason"],
  registers: [registry],
  collect() {
    for (const [reason, n] of Object.entries(resolver.stats().misses)) this.set({ reason }, n);
  },
});
new Gauge({
  name: "secprof_recorder_attribution",
  help: "attribution counters (events, attributed, replayed, viaHistory, …) and backlog gauges",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(resolver.stats()))
      if (typeof n === "number") this.set({ what }, n);
  },
});
new Gauge({
  name: "secprof_recorder_exec_tracker",
  help: "exec tracker counters (execs seen, namespaces learned) and pids remembered",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(tracker.stats())) this.set({ what }, n);
  },
});
new Gauge({
  name: "secprof_recorder_bpf",
  help: "eBPF source (kernel lost events, full-map snapshots, drops) and namespace attribution counters",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    const s = bpfSyscalls.stats();
    for (const [what, n] of Object.entries(s)) if (typeof n === "number") this.set({ what }, n);
    for (const [what, n] of Object.entries(s.misses)) this.set({ what: `miss_${what}` }, n);
    const src = bpf?.stats;
    if (src === undefined) return;
    this.set({ what: "kernel_lost" }, src.kernelLost);
    this.set({ what: "map_full_snapshots" }, src.mapFullSnapshots);
    this.set({ what: "map_keys" }, src.mapKeys);
    this.set(
      { what: "lines_dropped" },
      Object.values(src.dropped).reduce((a, b) => a + b, 0),
    );
  },
});
new Gauge({
  name: "secprof_recorder_events",
  help: "attributed events: facts kept for a recording, unselected (no recording selects the container), noPodFacts (pod not in the index)",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(core.counters)) this.set({ what }, n);
  },
});
new Gauge({
  name: "secprof_recorder_queue",
  help: "observation queue counters (sent, spooled, pending, …)",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(queue.stats())) this.set({ what }, n);
  },
});
// Ready once the caches are synced AND the audit log follower is positioned: without a checkpoint it
// starts at the log's end, so whatever is logged before that is never read.
let following = false;
const http = observabilityServer(registry, () => following && podIndex.synced && recordings.synced);
http.listen(cfg.SECPROF_METRICS_PORT, cfg.SECPROF_METRICS_HOST, () =>
  log.info({ metrics: http.address() }, "metrics listening"),
);

podIndex.onPodEnded((pod) => {
  // The kubelet reports the end after the containers exited, but their last facts may not have
  // reached us yet: wait (bounded) for the audit records logged so far, and with eBPF for the next
  // read of the kernel map, so that they precede `ended`.
  const settled = Promise.all([
    logsMode
      ? logBarrier(cfg.SECPROF_AUDIT_LOG, () => pendingCheckpoint, POD_END_WAIT_MS).then(async (ok) => {
          if (!ok) log.warn({ pod: pod.name }, "pod ended before the audit log was read up to its end");
          // Records read so far whose process had exited may still wait for the exec tracker's
          // event; they expire after execWaitMs, so this ends by then.
          const t = Date.now();
          if (!(await settle(() => !resolver.waitingSince(t), execWaitMs + 100)))
            log.warn({ pod: pod.name }, "pod ended while audit records still waited for the exec tracker");
        })
      : undefined,
    bpf !== undefined && bpfMode
      ? bpfSyscalls.nextSnapshot(2 * cfg.SECPROF_BPF_INTERVAL_MS + 1000)
      : undefined,
    apparmor?.podEnded(pod, 2 * cfg.SECPROF_BPF_INTERVAL_MS + 1000),
  ]);
  settled
    .then(() => core.podEnded(pod))
    .catch((err: unknown) => log.error({ err, pod: pod.name }, "pod end"));
});
await Promise.all([podIndex.start(), recordings.start()]);

// eBPF: the syscall recorder (recorder: Bpf), whose exec events also feed the exec tracker; or,
// in Logs mode only, the exec tracker's own one-probe program.
// pid 1's namespace is the host's (hostPID); where pid 1 is out of reach, ours stands in for it.
const pid1Mntns = resolver.reader.mntns(1);
const hostMntns = pid1Mntns.ok ? pid1Mntns : resolver.reader.mntns("self");
const bpfOptions: BpftraceSourceOptions = {
  bpftrace: cfg.SECPROF_BPFTRACE,
  intervalMs: cfg.SECPROF_BPF_INTERVAL_MS,
  onWarning: (message) => log.warn({ source: "bpftrace" }, message),
  // The host's own processes are never recorded: skipped in the kernel, as SPO does.
  ...(hostMntns.ok ? { excludeMntns: hostMntns.value } : {}),
};
let source: BpftraceSource | undefined;
if (bpfMode) {
  // Count mode, not "seen" mode: the kernel reuses a freed mount namespace's inode for the next
  // one at once, and in seen mode a key an earlier namespace set is never reported again, so a
  // new container on a reused inode would record (almost) nothing. Counts grow on every call, so
  // every snapshot reports what each namespace called since the last one (~100 ns more per call).
  source = new BpftraceSource({ ...bpfOptions, counts: true });
  source.onEvent(bpfSyscalls.onEvent);
} else if (logsMode && cfg.SECPROF_EXEC_TRACKER !== "off") {
  source = new BpftraceSource({ ...bpfOptions, program: EXEC_TRACKER_PROGRAM });
  source.onEvent((e) => {
    if (e.type === "exec") tracker.onExec(e);
    else if (e.type === "tick") tracker.onTick(e.monoNs);
  });
}
if (source !== undefined) {
  const started = await source.start();
  if (!started.ok) {
    const fatal = bpfMode || cfg.SECPROF_EXEC_TRACKER === "on";
    const what = bpfMode ? "the eBPF recorder" : "the exec tracker";
    log[fatal ? "error" : "warn"](
      { problem: started.problem, stderr: started.stderr },
      `${what} did not start${fatal ? "" : ": short-lived processes may go unattributed"}`,
    );
    if (fatal) process.exit(1);
  } else {
    bpf = source;
    log.info({ ms: Math.round(started.ms), command: source.command }, "bpftrace attached");
  }
}

// AppArmor by eBPF (recorder: Bpf, kind AppArmorProfile): see SECPROF_BPF_APPARMOR in daemon/config.ts.
if (bpfMode && cfg.SECPROF_BPF_APPARMOR !== "off") {
  const recorder = new NodeAppArmorRecorder({
    resolver,
    tracker,
    deliver: (pod, facts, lost) => core.onBpfAppArmor(pod, facts, lost),
    wants: (pod) => core.wantsBpfAppArmor(pod),
    onWarning: (message) => log.warn({ source: "apparmor" }, message),
    create: (restarted) =>
      new AppArmorBpfSource({
        bpftrace: cfg.SECPROF_BPFTRACE,
        intervalMs: cfg.SECPROF_BPF_INTERVAL_MS,
        maxPathsPerNamespace: cfg.SECPROF_APPARMOR_MAX_PATHS,
        afterExec: !restarted,
        onWarning: (message) => log.warn({ source: "apparmor" }, message),
        ...(hostMntns.ok ? { excludeMntns: hostMntns.value } : {}),
      }),
  });
  const started = await recorder.start();
  if (started.ok) {
    apparmor = recorder;
    log.info({ ms: Math.round(started.ms) }, "AppArmor eBPF source attached");
  } else {
    const fatal = cfg.SECPROF_BPF_APPARMOR === "on";
    log[fatal ? "error" : "warn"](
      { problem: started.problem, stderr: started.stderr },
      `the AppArmor eBPF source did not start${fatal ? "" : ": AppArmorProfile Bpf recordings get no facts"}`,
    );
    await recorder.stop();
    if (fatal) process.exit(1);
  }
}
new Gauge({
  name: "secprof_recorder_apparmor",
  help: "AppArmor eBPF source (snapshots, full maps, restarts) and namespace attribution counters",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(apparmor?.stats() ?? {})) this.set({ what }, n);
  },
});

const resumed = resumeFrom(await loadCheckpoint(cfg.SECPROF_CHECKPOINT));
const follower = logsMode
  ? await AuditLogFollower.open({
      path: cfg.SECPROF_AUDIT_LOG,
      from: resumed.from,
      startAt: resumed.startAt,
      onEvent: (event) => {
        log.info({ event }, "audit log");
        loss.onFollowEvent(event);
      },
    })
  : undefined;
new Gauge({
  name: "secprof_recorder_audit_log",
  help: "audit log follower counters (rotations, truncations, bytes read, long lines dropped)",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(follower?.stats ?? {})) this.set({ what }, n);
  },
});
following = true;
log.info(
  {
    node: cfg.NODE_NAME,
    recorders: [...cfg.SECPROF_RECORDERS],
    execTracker: bpf !== undefined,
    auditLog: logsMode ? cfg.SECPROF_AUDIT_LOG : undefined,
    resumed: resumed.from !== undefined,
  },
  "recorder started",
);

const flush = async () => {
  parser.flush(events, Date.now() - 2000);
  deliver();
  apparmor?.collect();
  resolver.sweep(); // expired waits count as misses even when no new audit record comes
  batcher.reportLoss(loss.counters(follower?.stats, resolver.stats().misses));
  await core.flush();
  // Saved only after what was read is sent (or spooled to disk): a crash replays, never loses.
  if (pendingCheckpoint !== undefined) await saveCheckpoint(cfg.SECPROF_CHECKPOINT, pendingCheckpoint);
};
const events: ParsedEvent[] = [];
const deliver = () => {
  for (const { event } of events) {
    if (event.pid === null) continue;
    const opts: { eventTimeMs?: number; mntns?: number } = {};
    if (event.ts !== null) opts.eventTimeMs = event.ts;
    // Used by the resolver only when the pid is gone (see ExecTracker).
    const mntns = tracker.mntnsOf(event.pid, event.ts);
    if (mntns !== undefined) opts.mntns = mntns;
    resolver.submit(event.pid, event, opts);
  }
  events.length = 0;
};
const timer = setInterval(() => {
  flush().catch((err: unknown) => log.error({ err }, "flush"));
}, cfg.SECPROF_FLUSH_MS);

let lineNo = 0;
const pump = (async () => {
  if (follower === undefined) return;
  for await (const batch of follower) {
    for (const line of batch.lines) parser.push(line, ++lineNo, events);
    linesRead.inc(batch.lines.length);
    deliver();
    pendingCheckpoint = batch.checkpoint;
  }
})();

const shutdown = async (signal: string) => {
  log.info({ signal }, "stopping");
  clearInterval(timer);
  await follower?.close();
  await pump;
  await bpf?.stop();
  await apparmor?.stop();
  apparmor?.collect();
  await flush();
  resolver.close();
  await Promise.all([podIndex.stop(), recordings.stop(), queue.close()]);
  http.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
