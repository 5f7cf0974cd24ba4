import { existsSync } from "node:fs";

/** What both bpftrace-driven sources (syscalls.bt and apparmor.bt) do alike around the child. */

const SETPRIV_PATHS = ["/usr/bin/setpriv", "/bin/setpriv"];
const STDERR_KEEP = 50;

/** An integer option within [min, max] (`dflt` when unset); a RangeError naming it otherwise. */
export function intOption(
  name: string,
  v: number | undefined,
  dflt: number,
  min: number,
  max: number,
): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min || x > max)
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  return x;
}

/** The barrier command whose exec line proves the probes are live: `true`, else node itself. */
export function defaultMarker(): string[] {
  const t = ["/bin/true", "/usr/bin/true"].find((p) => existsSync(p));
  return t === undefined ? [process.execPath, "-e", ""] : [t];
}

/** `argv` under `setpriv --pdeathsig KILL` when setpriv exists, so the child never outlives us. */
export function withPdeathsig(argv: string[]): string[] {
  const setpriv = SETPRIV_PATHS.find((p) => existsSync(p));
  return setpriv === undefined ? argv : [setpriv, "--pdeathsig", "KILL", "--", ...argv];
}

/** Appends a stderr line to `kept`, keeping the last 50 (for diagnostics, bounded). */
export function keepStderr(kept: string[], line: string): void {
  kept.push(line);
  if (kept.length > STDERR_KEEP) kept.splice(0, kept.length - STDERR_KEEP);
}
