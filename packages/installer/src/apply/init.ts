import { constants } from "node:fs";
import { mkdir, open, readdir } from "node:fs/promises";
import type { SeccompLayout } from "../host-writer.js";
import { checkRelativeDir, type DirHandle, openDirBeneath, openRoot } from "../safe-path.js";

/**
 * The init step of the privilege split: the only code that runs with CHOWN / FOWNER / FSETID /
 * DAC_OVERRIDE. It hands the seccomp operator directory to the installer's uid and prepares the
 * socket directory of `installer-apply`, then exits. Nothing else on the host changes owner:
 * - `<root>/<kubelet>/seccomp` is created root-owned if missing; `operator/` below it (and, for
 *   the namespaced layout, each existing `operator/<ns>/`) is chowned to uid:gid, mode 0755;
 *   all walked by handle without following symlinks (a symlink planted there fails the step);
 * - the apply socket directory (not on the host: a pod-local emptyDir) becomes 0750 root:gid, so
 *   only root (installer-apply) and the installer's group reach the socket;
 * - the state directory, if any, becomes 0700 uid:gid.
 */

export interface PrepareHostOptions {
  root: string;
  kubeletDir?: string;
  seccompLayout?: SeccompLayout;
  uid: number;
  gid: number;
  socketDir?: string | undefined;
  stateDir?: string | undefined;
}

async function own(dir: DirHandle, uid: number, gid: number, mode: number): Promise<void> {
  await dir.handle.chown(uid, gid);
  await dir.handle.chmod(mode);
}

export async function prepareHost(opts: PrepareHostOptions): Promise<string[]> {
  const done: string[] = [];
  const root = await openRoot(opts.root);
  try {
    const seccomp = await openDirBeneath(
      root,
      [...checkRelativeDir(opts.kubeletDir ?? "var/lib/kubelet"), "seccomp"],
      {
        mode: 0o755,
      },
    );
    try {
      const operator = await openDirBeneath(seccomp, ["operator"], { mode: 0o755 });
      try {
        await own(operator, opts.uid, opts.gid, 0o755);
        done.push(`${operator.display} -> ${opts.uid}:${opts.gid} 0755`);
        if ((opts.seccompLayout ?? "namespaced") === "namespaced") {
          const entries = await readdir(`/proc/self/fd/${operator.handle.fd}`, { withFileTypes: true });
          for (const e of entries) {
            if (!e.isDirectory()) continue;
            const ns = await openDirBeneath(operator, [e.name]);
            try {
              await own(ns, opts.uid, opts.gid, 0o755);
              done.push(`${ns.display} -> ${opts.uid}:${opts.gid} 0755`);
            } finally {
              await ns.handle.close();
            }
          }
        }
      } finally {
        await operator.handle.close();
      }
    } finally {
      await seccomp.handle.close();
    }
  } finally {
    await root.handle.close();
  }
  // Pod-local directories (emptyDir volumes), not host paths.
  if (opts.socketDir !== undefined) done.push(await ownLocal(opts.socketDir, 0, opts.gid, 0o750));
  if (opts.stateDir !== undefined) done.push(await ownLocal(opts.stateDir, opts.uid, opts.gid, 0o700));
  return done;
}

/** mkdir -p, then chown/chmod through a handle opened without following a symlink at the end. */
async function ownLocal(dir: string, uid: number, gid: number, mode: number): Promise<string> {
  await mkdir(dir, { recursive: true, mode });
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    await fh.chown(uid, gid);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
  return `${dir} -> ${uid}:${gid} ${mode.toString(8).padStart(4, "0")}`;
}
