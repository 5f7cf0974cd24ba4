import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface AuditStatus {
  enabled: number;
  lost: number;
  backlogLimit: number;
  rateLimit: number;
}

/** Parses `auditctl -s` (`key value` lines). */
export function parseAuditStatus(text: string): AuditStatus | undefined {
  const kv = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined && /^\d+$/.test(v)) kv.set(k, Number(v));
  }
  const enabled = kv.get("enabled");
  const lost = kv.get("lost");
  const backlogLimit = kv.get("backlog_limit");
  if (enabled === undefined || lost === undefined || backlogLimit === undefined) return undefined;
  return { enabled, lost, backlogLimit, rateLimit: kv.get("rate_limit") ?? 0 };
}

/** The kernel's audit status; `lost` counts records the kernel dropped (backlog overflow). */
export async function auditStatus(): Promise<AuditStatus | string> {
  try {
    const { stdout } = await run("auditctl", ["-s"]);
    return parseAuditStatus(stdout) ?? `unexpected auditctl -s output: ${stdout.slice(0, 200)}`;
  } catch (err) {
    return `auditctl -s failed: ${(err as Error).message} (install auditd and run as root)`;
  }
}

/** Raises the kernel backlog so a SCMP_ACT_LOG workload does not overflow the default 64. */
export async function raiseBacklog(min: number): Promise<void> {
  await run("auditctl", ["-b", String(min)]);
}

/** Writes a user message through the kernel's audit queue: once it is in the log, every
 * kernel record queued before it is too. */
export async function auditMarker(text: string): Promise<void> {
  await run("auditctl", ["-m", text]);
}
