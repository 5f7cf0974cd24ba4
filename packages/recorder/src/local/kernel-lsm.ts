import { readFileSync } from "node:fs";

/** Which mandatory access control LSMs are active in the running kernel (what their logs need). */
export interface ActiveLsms {
  apparmor: boolean;
  selinux: boolean;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * AppArmor is active when its module reports `enabled=Y`; SELinux when selinuxfs is mounted.
 * Neither emits AVC or ALLOWED records otherwise, so neither log-based kind can be recorded.
 */
export function activeLsms(): ActiveLsms {
  const lsm = read("/sys/kernel/security/lsm")?.split(",") ?? [];
  return {
    apparmor: read("/sys/module/apparmor/parameters/enabled") === "Y" || lsm.includes("apparmor"),
    selinux: read("/sys/fs/selinux/enforce") !== undefined || lsm.includes("selinux"),
  };
}
