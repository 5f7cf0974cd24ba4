import { TRACE_SECCOMP } from "@secprof/core";
import { type RuncOptions, runcBundle } from "./runc.js";

/** runc's init process names itself this while it sets the container up, until it execs CMD. */
export const RUNC_INIT_COMM = "runc:[2:INIT]";

/**
 * The container's seccomp profile while recording. It must install a real filter, so runc takes
 * its normal seccomp path and everything it does after the filter is part of the recording,
 * and it must stop nothing. The logs recorder needs LOG to see each syscall; the bpf recorder
 * sees syscalls itself and only needs to know which ones ran under a filter.
 */
export function recordingProfile(recorder: "bpf" | "logs"): unknown {
  return recorder === "logs"
    ? TRACE_SECCOMP
    : { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["kexec_load"], action: "SCMP_ACT_ERRNO" }] };
}

/**
 * The container `secprof record --for runc` runs CMD in, and that the profile is enforced in:
 * the host's /usr and /etc read-only, the current directory read-write at the same path, the
 * caller's environment, host network. Recording and enforcement use the same options so the
 * profile fits the container exactly.
 */
export function containerOptions(cwd: string, env: NodeJS.ProcessEnv, seccomp: unknown): RuncOptions {
  const envList = Object.entries(env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return { seccomp, binds: cwd === "/" ? [] : [[cwd, cwd]], cwd, env: envList };
}

/** Recording in that container: the runtime's own post-filter syscalls are measured with CMD's. */
export async function runcRecording(
  argv: readonly string[],
  recorder: "bpf" | "logs",
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ argv: string[]; cleanup: () => Promise<void> }> {
  const bundle = await runcBundle([...argv], containerOptions(cwd, env, recordingProfile(recorder)));
  return { argv: ["runc", "run", "--bundle", bundle.dir, bundle.id], cleanup: bundle.cleanup };
}
