#!/usr/bin/env node
// Composition root of the installer daemon (the only place that reads the environment, builds
// adapters and touches `process`). Two modes:
// - cluster (default): watches SeccompProfile/SelinuxProfile/AppArmorProfile CRs, ProfileApprovals
//   and this node's pods; installs approved digests; writes ProfileNodeStatus objects and the
//   profiles' aggregated status (daemon/cluster.ts);
// - single-host: polls a profile directory or the merger's API, approvals from the local store
//   (daemon/single-host.ts).
// Runs as a non-root uid: seccomp files go to the directory `init-main.js` handed to it;
// AppArmor/SELinux go through `apply-main.js` when SECPROF_APPLY_SOCKET is set.
//
// Environment (full descriptions in daemon/config.ts):
//   SECPROF_MODE, NODE_NAME, SECPROF_HOST_ROOT, SECPROF_SECCOMP_LAYOUT, SECPROF_KUBELET_DIR,
//   SECPROF_SECCOMP_POLICY, SECPROF_APPLY_SOCKET, SECPROF_STATE_FILE, SECPROF_METRICS_PORT,
//   SECPROF_METRICS_HOST, SECPROF_RESYNC_MS, SECPROF_TRACE_PROFILE; single-host only: SECPROF_PROFILE_DIR or
//   SECPROF_MERGER_URL + SECPROF_API_TOKEN, SECPROF_APPROVAL_STORE. Cluster mode reads the
//   kubeconfig from the usual places (in-cluster service account, KUBECONFIG).
// Endpoints: GET /metrics, /healthz, /readyz on SECPROF_METRICS_PORT (ready after the caches
// synced and the first reconcile finished / the first single-host pass succeeded).
import { readFile, realpath } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { TRACE_SECCOMP, TRACE_SECCOMP_PROFILE } from "@secprof/core";
import { loadConfig, newRegistry, observabilityServer } from "@secprof/daemon-kit";
import { pino } from "pino";
import { Counter, Gauge } from "prom-client";
import { parse } from "yaml";
import { ApplyClient, remoteKernel, SplitWriter } from "./apply/client.js";
import { ClusterInstaller } from "./daemon/cluster.js";
import { InstallerConfig } from "./daemon/config.js";
import { fileManifest, memoryManifest } from "./daemon/manifest-store.js";
import { mergerProfiles, singleHostPass } from "./daemon/single-host.js";
import { HostWriter } from "./host-writer.js";
import type { ReconcileResult } from "./install.js";
import { AppArmorKernel, SelinuxKernel } from "./kernel.js";
import { LocalApprovalStore } from "./local-approvals.js";
import { loadProfileDir } from "./local-profiles.js";
import { LocalInstallState } from "./local-state.js";
import { noUsage } from "./usage.js";
import { PolicyCompilers } from "./validate/validator.js";
import { SeccompPolicy } from "./validate-seccomp.js";

const log = pino({ name: "secprof-installer" });
const cfg = loadConfig(InstallerConfig, process.env);
const node = cfg.NODE_NAME ?? hostname();
const rootKey = await realpath(cfg.SECPROF_HOST_ROOT);
const local = await HostWriter.open({
  root: rootKey,
  seccompLayout: cfg.SECPROF_SECCOMP_LAYOUT,
  kubeletDir: cfg.SECPROF_KUBELET_DIR,
});
if (cfg.SECPROF_TRACE_PROFILE === "on") {
  // Secprof's own fixed profile, not a recorded one, so no approval: at SPO's cluster-scoped path
  // the webhook names, whatever layout recorded profiles use.
  const traced = await HostWriter.open({
    root: rootKey,
    seccompLayout: "cluster",
    kubeletDir: cfg.SECPROF_KUBELET_DIR,
  });
  const w = await traced.write(
    { kind: "SeccompProfile", name: path.basename(TRACE_SECCOMP_PROFILE, ".json") },
    `${JSON.stringify(TRACE_SECCOMP)}\n`,
  );
  log.info({ path: w.path, changed: w.changed }, "trace profile installed");
}
const apply = cfg.SECPROF_APPLY_SOCKET === undefined ? undefined : new ApplyClient(cfg.SECPROF_APPLY_SOCKET);
const writer = apply === undefined ? local : new SplitWriter(local, apply);
const kernel =
  apply === undefined
    ? { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() }
    : {
        AppArmorProfile: remoteKernel(apply, "AppArmorProfile"),
        SelinuxProfile: remoteKernel(apply, "SelinuxProfile"),
      };
const compilers = new PolicyCompilers();
const policy =
  cfg.SECPROF_SECCOMP_POLICY === undefined
    ? undefined
    : SeccompPolicy.parse(parse(await readFile(cfg.SECPROF_SECCOMP_POLICY, "utf8")));
const reconcileDeps = {
  kernel,
  validator: compilers,
  ...(policy === undefined ? {} : { seccomp: { policy } }),
};

const registry = newRegistry("installer");
const passes = new Counter({
  name: "secprof_installer_reconciles_total",
  help: "reconcile passes, by result",
  labelNames: ["result"],
  registers: [registry],
});
const profiles = new Gauge({
  name: "secprof_installer_profiles",
  help: "profiles on this node by state after the last reconcile",
  labelNames: ["state"],
  registers: [registry],
});
const removedTotal = new Counter({
  name: "secprof_installer_removed_total",
  help: "profile files removed from this node",
  registers: [registry],
});
const STATES = ["Pending", "InProgress", "Installed", "Terminating", "Error", "Partial", "Disabled"];
const observe = (r: ReconcileResult) => {
  passes.inc({ result: "ok" });
  for (const s of STATES) profiles.set({ state: s }, r.statuses.filter((x) => x.state === s).length);
  removedTotal.inc(r.removed.length);
  for (const s of r.statuses)
    if (s.state === "Error" || s.state === "Terminating")
      log.warn(
        { profile: `${s.kind}/${s.namespace ?? ""}/${s.name}`, state: s.state, reason: s.reason },
        s.message,
      );
  for (const u of r.unreadable) log.warn({ source: u.source, errors: u.errors }, "unreadable profile object");
};

let ready: () => boolean;
let stop: () => Promise<void>;

if (cfg.SECPROF_MODE === "cluster") {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  for (const t of await writer.cleanStaleTemps()) log.info({ file: t }, "removed a stale temp file");
  const installer = new ClusterInstaller({
    kubeConfig: kc,
    node,
    writer,
    manifest:
      cfg.SECPROF_STATE_FILE === undefined ? memoryManifest() : fileManifest(cfg.SECPROF_STATE_FILE, rootKey),
    reconcileDeps,
    ...(cfg.SECPROF_RESYNC_MS === undefined ? {} : { resyncMs: cfg.SECPROF_RESYNC_MS }),
    onError: (err, during) => log.warn({ err, during }, "installer"),
    onReconciled: observe,
  });
  await installer.start();
  ready = () => installer.synced && installer.reconciles > 0;
  stop = () => installer.stop();
} else {
  const dir = cfg.SECPROF_PROFILE_DIR;
  const store = new LocalApprovalStore(
    cfg.SECPROF_APPROVAL_STORE ?? LocalApprovalStore.defaultPath(dir ?? "."),
  );
  // Default: next to the profiles (as `secprof install DIR`), else next to the approval store.
  const state = new LocalInstallState(
    cfg.SECPROF_STATE_FILE ??
      (dir === undefined
        ? path.join(path.dirname(store.file), "install-state.json")
        : LocalInstallState.defaultPath(dir)),
  );
  const desired = async () => {
    if (dir !== undefined) {
      const loaded = await loadProfileDir(dir);
      for (const p of loaded.problems) log.warn({ source: p.source }, p.error);
      return loaded.profiles;
    }
    return mergerProfiles(cfg.SECPROF_MERGER_URL ?? "", cfg.SECPROF_API_TOKEN ?? "", fetch);
  };
  let passed = false;
  let stopped = false;
  const pass = async () => {
    try {
      const r = await singleHostPass({
        desired: await desired(),
        store,
        state,
        rootKey,
        writer,
        deps: { ...reconcileDeps, node, usage: noUsage },
      });
      for (const t of r.staleTemps) log.info({ file: t }, "removed a stale temp file");
      observe(r);
      passed = true;
    } catch (err) {
      // The source or the store could not be read: nothing was changed on the host.
      passes.inc({ result: "error" });
      log.error({ err }, "single-host pass failed; nothing changed");
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await pass();
      await new Promise((r) => setTimeout(r, cfg.SECPROF_RESYNC_MS ?? 10_000).unref());
    }
  })();
  ready = () => passed;
  stop = async () => {
    stopped = true;
    await Promise.race([loop, new Promise((r) => setTimeout(r, 100))]);
  };
}

const http = observabilityServer(registry, () => ready());
http.listen(cfg.SECPROF_METRICS_PORT, cfg.SECPROF_METRICS_HOST, () =>
  log.info(
    { metrics: http.address(), mode: cfg.SECPROF_MODE, node, root: rootKey, split: apply !== undefined },
    "installer started",
  ),
);

const shutdown = async (signal: string) => {
  log.info({ signal }, "stopping");
  await stop();
  await compilers.dispose();
  await local.close();
  http.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
