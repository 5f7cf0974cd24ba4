#!/usr/bin/env node
// Composition root of the mutating admission webhook: TLS from files, ProfileRecordings and
// namespace labels from watches, and the AdmissionReview handler. Unprivileged, read-only API use
// (plus events on recordings it mutates pods for).
import { readFileSync } from "node:fs";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import {
  loadConfig,
  newRegistry,
  observabilityServer,
  RecordingWatcher,
  ResilientInformer,
} from "@secprof/daemon-kit";
import { pino } from "pino";
import { Counter } from "prom-client";
import { z } from "zod";
import { webhookServer } from "./server.js";

const Config = z.object({
  SECPROF_TLS_CERT: z.string().default("/etc/secprof/tls/tls.crt"),
  SECPROF_TLS_KEY: z.string().default("/etc/secprof/tls/tls.key"),
  SECPROF_WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(9443),
  SECPROF_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9103),
});

const log = pino({ name: "secprof-webhook" });
const cfg = loadConfig(Config, process.env);
const kc = new KubeConfig();
kc.loadFromDefault();

const Namespace = z.object({
  metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
});
const namespaceLabels = new Map<string, Record<string, string>>();
const core = kc.makeApiClient(CoreV1Api);
const namespaces = new ResilientInformer({
  kubeConfig: kc,
  path: "/api/v1/namespaces",
  list: () => core.listNamespace(),
  onError: (err) => log.warn({ err }, "namespace watch"),
  handlers: {
    upsert: (o) => {
      const ns = Namespace.safeParse(o);
      if (ns.success) namespaceLabels.set(ns.data.metadata.name, ns.data.metadata.labels ?? {});
    },
    remove: (o) => {
      const ns = Namespace.safeParse(o);
      if (ns.success) namespaceLabels.delete(ns.data.metadata.name);
    },
  },
});
const recordings = new RecordingWatcher({
  kubeConfig: kc,
  report: false,
  onError: (err, during) => log.warn({ err, during }, "recordings"),
});

const registry = newRegistry("webhook");
const mutations = new Counter({
  name: "secprof_webhook_mutations_total",
  help: "pods mutated for a recording",
  registers: [registry],
});
const warnings = new Counter({
  name: "secprof_webhook_warnings_total",
  help: "admission warnings returned",
  registers: [registry],
});

await Promise.all([namespaces.start(), recordings.start()]);
const server = webhookServer(
  { cert: readFileSync(cfg.SECPROF_TLS_CERT), key: readFileSync(cfg.SECPROF_TLS_KEY) },
  {
    namespace: (ns) => {
      const labels = namespaceLabels.get(ns);
      return labels === undefined ? undefined : { labels, recordings: recordings.list(ns) };
    },
    onMutation: (ns, recs, warns) => {
      mutations.inc();
      warnings.inc(warns.length);
      log.info({ ns, recordings: recs, warnings: warns }, "pod selected for recording");
    },
  },
);
server.listen(cfg.SECPROF_WEBHOOK_PORT);
const http = observabilityServer(registry, () => recordings.synced);
http.listen(cfg.SECPROF_METRICS_PORT);
log.info({ port: cfg.SECPROF_WEBHOOK_PORT }, "webhook started");

const shutdown = async () => {
  server.close();
  http.close();
  await Promise.all([namespaces.stop(), recordings.stop()]);
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
