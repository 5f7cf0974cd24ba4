#!/usr/bin/env node
// Composition root of the merger: BullMQ workers folding deltas into Redis, profile objects
// written to the Kubernetes API when pods end, Containers recordings merged on deletion, and the
// token-protected download API for CI. Runs unprivileged; any number of replicas.
// Environment: daemon/config.ts. Host mode (one Linux host without Kubernetes) when
// SECPROF_RECORDINGS_DIR is set and no kubeconfig is (daemon-kit host/mode.ts): recordings from
// that directory, profiles written as CR YAML files to SECPROF_PROFILES_DIR (host/adapters.ts).
import { createServer } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import {
  hostMode,
  loadConfig,
  newRegistry,
  observabilityServer,
  type RecordingView,
  RecordingWatcher,
  registerRecordingsDirMetrics,
} from "@secprof/daemon-kit";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Counter } from "prom-client";
import { bearerCheck, createBundleApiHandler } from "./bundle/http-api.js";
import { MergerConfig } from "./daemon/config.js";
import { Finalizer } from "./daemon/finalizer.js";
import { MergerRecordingSource } from "./daemon/recording-source.js";
import { mergerHostAdapters } from "./host/adapters.js";
import { KubeProfileStore } from "./kube/profile-store.js";
import { assertNoEviction, RedisProfileState } from "./redis-state.js";
import { createMergerWorker } from "./worker.js";

const log = pino({ name: "secprof-merger" });
const cfg = loadConfig(MergerConfig, process.env);
const host = hostMode(process.env) ? mergerHostAdapters(process.env, log) : undefined;
const kc = new KubeConfig();
if (host === undefined) kc.loadFromDefault();

const redis = new Redis(cfg.SECPROF_REDIS_URL, { maxRetriesPerRequest: null });
await assertNoEviction(redis);
const state = new RedisProfileState(redis);
const store = host?.store ?? new KubeProfileStore({ kubeConfig: kc, scope: cfg.SECPROF_PROFILE_SCOPE });
const recordings: RecordingView =
  host?.recordings ??
  new RecordingWatcher({
    kubeConfig: kc,
    component: "secprof-merger",
    onError: (err, during) => log.warn({ err, during }, "recordings"),
  });
const recording = (ns: string, name: string) => recordings.get(ns, name);
const finalizer = new Finalizer({
  state,
  store,
  recording,
  onUnbuildable: (target, reason) => log.error({ target, reason }, "profile not written"),
  onLate: (target) => {
    lateObservations.inc();
    log.warn({ target }, "observation of a deleted recording dropped: its profiles are final");
  },
});

recordings.subscribe((c) => {
  if (c.type !== "delete") return;
  const ns = c.recording.metadata.namespace ?? "default";
  const name = c.recording.metadata.name;
  // Containers: merge the partials (which also drops the state); None: only drop the state.
  const done =
    c.recording.spec.mergeStrategy === "Containers"
      ? finalizer
          .mergeRecording(ns, name)
          .then((merged) =>
            log.info({ ns, name, merged: merged.map((m) => m.metadata.name) }, "merged partials"),
          )
      : finalizer.forget(ns, name);
  done.catch((err: unknown) => log.error({ err, ns, name }, "recording deletion"));
});
await recordings.start();
finalizer
  .mergeOrphans()
  .then((merged) => {
    if (merged.length > 0)
      log.info(
        { merged: merged.map((m) => m.metadata.name) },
        "merged partials of recordings deleted meanwhile",
      );
  })
  .catch((err: unknown) => log.error({ err }, "merging orphaned partials"));

const registry = newRegistry("merger");
const lateObservations = new Counter({
  name: "secprof_merger_late_observations_total",
  help: "observations of deleted recordings dropped after their state was (their profiles are final)",
  registers: [registry],
});
if (host !== undefined) registerRecordingsDirMetrics(registry, host.recordings);
const worker = createMergerWorker({
  connection: { url: cfg.SECPROF_REDIS_URL, maxRetriesPerRequest: null },
  state: finalizer.finalizing(state),
  concurrency: cfg.SECPROF_CONCURRENCY,
  registry,
  logger: log,
});

const source = new MergerRecordingSource({
  state,
  store,
  recordings: () => recordings.list(),
  recording,
  onUnrenderable: (p, reason) =>
    log.warn({ kind: p.kind, profile: p.metadata.name, reason }, "left out of the bundle"),
});
const bundleApi = createBundleApiHandler({
  source,
  token: cfg.SECPROF_API_TOKEN,
  onError: (err, r) => log.error({ err, ...r }, "api"),
});
const authorized = bearerCheck(cfg.SECPROF_API_TOKEN);
const SNAPSHOT = /^\/v1\/recordings\/([a-z0-9-]{1,63})\/([a-z0-9-]{1,63})\/snapshot$/;
const api = createServer((req, res) => {
  const m = req.method === "POST" ? SNAPSHOT.exec(req.url ?? "") : null;
  if (m?.[1] === undefined || m[2] === undefined) {
    bundleApi(req, res);
    return;
  }
  if (!authorized(req)) {
    res.writeHead(401).end();
    return;
  }
  finalizer.snapshot(m[1], m[2]).then(
    (written) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ profiles: written.map((p) => p.metadata.name) })),
    (err: unknown) => {
      log.error({ err }, "snapshot");
      res.writeHead(500).end();
    },
  );
});
api.listen(cfg.SECPROF_API_PORT, cfg.SECPROF_API_HOST);
const http = observabilityServer(registry, () => recordings.synced);
http.listen(cfg.SECPROF_METRICS_PORT);
log.info({ api: cfg.SECPROF_API_PORT }, "merger started");

const shutdown = async () => {
  await worker.close();
  await recordings.stop();
  api.close();
  http.close();
  redis.disconnect();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
