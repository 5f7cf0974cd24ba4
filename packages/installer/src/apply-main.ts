#!/usr/bin/env node
// Composition root of `installer-apply`, the privileged half of the installer's privilege split
// (apply/server.ts): serves AppArmor/SELinux writes and kernel loads to the unprivileged
// installer over a unix socket. No Kubernetes credentials, no seccomp, no network.
//
// Environment:
//   SECPROF_APPLY_SOCKET  socket path (default /run/secprof/apply.sock); its directory should be
//                         0750 root:<installer gid> (the init step prepares it).
//   SECPROF_HOST_ROOT     host root (default /); only <root>/etc/apparmor.d and
//                         <root>/etc/selinux.d are written.
import { realpath } from "node:fs/promises";
import { loadConfig } from "@secprof/daemon-kit";
import { pino } from "pino";
import { z } from "zod";
import { startApplyServer } from "./apply/server.js";
import { HostWriter } from "./host-writer.js";
import { AppArmorKernel, SelinuxKernel } from "./kernel.js";
import { PolicyCompilers } from "./validate/validator.js";

const log = pino({ name: "secprof-installer-apply" });
const cfg = loadConfig(
  z.object({
    SECPROF_APPLY_SOCKET: z.string().min(1).default("/run/secprof/apply.sock"),
    SECPROF_HOST_ROOT: z.string().min(1).default("/"),
  }),
  process.env,
);
const writer = await HostWriter.open({ root: await realpath(cfg.SECPROF_HOST_ROOT) });
for (const t of await writer.cleanStaleTemps(["apparmor", "selinux"]))
  log.info({ file: t }, "removed a stale temp file");
const compilers = new PolicyCompilers();
const server = await startApplyServer({
  socket: cfg.SECPROF_APPLY_SOCKET,
  writer,
  validator: compilers,
  kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() },
  onRequest: (op, kind, ok, message) =>
    ok ? log.info({ op, kind }, "applied") : log.warn({ op, kind, error: message }, "refused or failed"),
});
log.info({ socket: cfg.SECPROF_APPLY_SOCKET, uid: process.getuid?.() }, "installer-apply listening");

const shutdown = async (signal: string) => {
  log.info({ signal }, "stopping");
  server.close();
  await compilers.dispose();
  await writer.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
