#!/usr/bin/env node
// Composition root of the installer's init step (apply/init.ts): the only step with CHOWN,
// FOWNER, FSETID and DAC_OVERRIDE. Prepares the directories, prints what it did, exits.
//
// Environment:
//   SECPROF_HOST_ROOT       host root (default /).
//   SECPROF_KUBELET_DIR     kubelet root relative to the host root (default var/lib/kubelet).
//   SECPROF_SECCOMP_LAYOUT  namespaced (default) | cluster.
//   SECPROF_INSTALLER_UID   uid the installer runs as (default 65535).
//   SECPROF_INSTALLER_GID   its gid (default 65535).
//   SECPROF_APPLY_SOCKET    optional: the directory of this socket becomes 0750 root:<gid>.
//   SECPROF_STATE_FILE      optional: the directory of this file becomes 0700 <uid>:<gid>.
import path from "node:path";
import { loadConfig } from "@secprof/daemon-kit";
import { z } from "zod";
import { prepareHost } from "./apply/init.js";

const id = z.coerce
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);
const cfg = loadConfig(
  z.object({
    SECPROF_HOST_ROOT: z.string().min(1).default("/"),
    SECPROF_KUBELET_DIR: z.string().min(1).default("var/lib/kubelet"),
    SECPROF_SECCOMP_LAYOUT: z.enum(["namespaced", "cluster"]).default("namespaced"),
    SECPROF_INSTALLER_UID: id.default(65535),
    SECPROF_INSTALLER_GID: id.default(65535),
    SECPROF_APPLY_SOCKET: z.string().min(1).optional(),
    SECPROF_STATE_FILE: z.string().min(1).optional(),
  }),
  process.env,
);
const done = await prepareHost({
  root: cfg.SECPROF_HOST_ROOT,
  kubeletDir: cfg.SECPROF_KUBELET_DIR,
  seccompLayout: cfg.SECPROF_SECCOMP_LAYOUT,
  uid: cfg.SECPROF_INSTALLER_UID,
  gid: cfg.SECPROF_INSTALLER_GID,
  socketDir: cfg.SECPROF_APPLY_SOCKET === undefined ? undefined : path.dirname(cfg.SECPROF_APPLY_SOCKET),
  stateDir: cfg.SECPROF_STATE_FILE === undefined ? undefined : path.dirname(cfg.SECPROF_STATE_FILE),
});
for (const line of done) process.stdout.write(`prepared ${line}\n`);
