import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * Tests that need real machine features call `requirement(...)` and skip with the returned
 * reason when it is unmet. Under CI (`CI=true`) an unmet requirement is a failure instead: CI
 * must exercise every real part, so a silent skip there would hide a broken setup.
 */
export type Requirement =
  | "root"
  | "bpftrace"
  | "auditd"
  | "runc"
  | "redis"
  | "apparmor_parser"
  | "secilc"
  | "semodule";

function onPath(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function unmet(req: Requirement): string | undefined {
  switch (req) {
    case "root":
      return process.getuid?.() === 0 ? undefined : "needs root";
    case "bpftrace":
      if (process.getuid?.() !== 0) return "bpftrace needs root";
      if (!onPath("bpftrace")) return "bpftrace not installed (run scripts/setup)";
      if (!existsSync("/sys/kernel/btf/vmlinux")) return "kernel has no BTF";
      return undefined;
    case "auditd":
      if (process.getuid?.() !== 0) return "audit needs root";
      return onPath("auditctl") ? undefined : "auditd not installed (run scripts/setup)";
    case "redis":
      return process.env.SECPROF_REDIS_URL
        ? undefined
        : "SECPROF_REDIS_URL not set (scripts/test starts Redis)";
    default:
      return onPath(req) ? undefined : `${req} not installed (run scripts/setup)`;
  }
}

/** Returns a skip reason, or undefined when every requirement holds. Throws under CI=true. */
export function missing(...reqs: Requirement[]): string | undefined {
  for (const req of reqs) {
    const why = unmet(req);
    if (why === undefined) continue;
    if (process.env.CI === "true") throw new Error(`CI=true but requirement "${req}" is unmet: ${why}`);
    return why;
  }
  return undefined;
}
