#!/usr/bin/env node
// Composition root of the per-node recorder daemon: the only place that reads the environment,
// builds adapters and touches `process`.
import { KubeConfig } from "@kubernetes/client-node";
import { AuditParser, type ParsedEvent, type RawEvent } from "@secprof/core";
import { loadConfig, newRegistry, observabilityServer, RecordingWatcher } from "@secprof/daemon-kit";
import { pino } from "pino";
import { Counter, Gauge } from "prom-client";
import { AttributionResolver } from "./attribution/resolver.js";
import { RecorderConfig } from "./daemon/config.js";
import { RecorderCore } from "./daemon/recorder-core.js";
import { RecorderLoss } from "./daemon/recorder-loss.js";
import { KubePodIndex } from "./kube/pod-index.js";
import { BullmqObservationQueue } from "./queue/bullmq-queue.js";
import { DeltaBatcher } from "./queue/delta-batcher.js";
import { AuditLogFollower } from "./sources/audit-log-follower.js";
import { loadCheckpoint, resumeFrom, saveCheckpoint } from "./sources/checkpoint-store.js";

const log = pino({ name: "secprof-recorder" });
const cfg = loadConfig(RecorderConfig, process.env);
const kc = new KubeConfig();
kc.loadFromDefault();

const podIndex = new KubePodIndex({
  kubeConfig: kc,
  nodeName: cfg.NODE_NAME,
  onError: (err, source) => log.warn({ err, source }, "pod watch"),
});
const recordings = new RecordingWatcher({
  kubeConfig: kc,
  report: false,
  onError: (err, during) => log.warn({ err, during }, "recording watch"),
});
const queue = await BullmqObservationQueue.open({
  connection: cfg.SECPROF_REDIS_URL,
  spool: { file: cfg.SECPROF_SPOOL },
  logger: log,
});
const batcher = new DeltaBatcher({ recorder: cfg.NODE_NAME });
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
);
const resolver = new AttributionResolver<RawEvent>({
  podIndex,
  procRoot: cfg.SECPROF_PROC_ROOT,
  onAttributed: core.onAuditEvent,
  onError: (err) => log.warn({ err }, "attribution sink"),
});

const parser = new AuditParser({ format: "auditd" });
const registry = newRegistry("recorder");
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
  core.podEnded(pod).catch((err: unknown) => log.error({ err, pod: pod.name }, "pod end"));
});
await Promise.all([podIndex.start(), recordings.start()]);
const resumed = resumeFrom(await loadCheckpoint(cfg.SECPROF_CHECKPOINT));
const follower = await AuditLogFollower.open({
  path: cfg.SECPROF_AUDIT_LOG,
  from: resumed.from,
  startAt: resumed.startAt,
  onEvent: (event) => {
    log.info({ event }, "audit log");
    loss.onFollowEvent(event);
  },
});
new Gauge({
  name: "secprof_recorder_audit_log",
  help: "audit log follower counters (rotations, truncations, bytes read, long lines dropped)",
  labelNames: ["what"],
  registers: [registry],
  collect() {
    for (const [what, n] of Object.entries(follower.stats)) this.set({ what }, n);
  },
});
following = true;
log.info(
  { node: cfg.NODE_NAME, auditLog: cfg.SECPROF_AUDIT_LOG, resumed: resumed.from !== undefined },
  "recorder started",
);

let pendingCheckpoint: Parameters<typeof saveCheckpoint>[1] | undefined;
const flush = async () => {
  parser.flush(events, Date.now() - 2000);
  deliver();
  batcher.reportLoss(loss.counters(follower?.stats, resolver.stats().misses));
  await core.flush();
  // Saved only after what was read is sent (or spooled to disk): a crash replays, never loses.
  if (pendingCheckpoint !== undefined) await saveCheckpoint(cfg.SECPROF_CHECKPOINT, pendingCheckpoint);
};
const events: ParsedEvent[] = [];
const deliver = () => {
  for (const { event } of events)
    if (event.pid !== null)
      resolver.submit(event.pid, event, event.ts === null ? {} : { eventTimeMs: event.ts });
  events.length = 0;
};
const timer = setInterval(() => {
  flush().catch((err: unknown) => log.error({ err }, "flush"));
}, cfg.SECPROF_FLUSH_MS);

let lineNo = 0;
const pump = (async () => {
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
  await follower.close();
  await pump;
  await flush();
  resolver.close();
  await Promise.all([podIndex.stop(), recordings.stop(), queue.close()]);
  http.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
