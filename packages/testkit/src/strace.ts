import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Syscall names `strace -f` reports for one run of argv: the independent oracle for recorders. */
export function straceSyscalls(argv: string[], cwd: string): Set<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "secprof-strace-"));
  const out = path.join(dir, "trace");
  try {
    // stdout is a pipe, as in the recorded runs: glibc probes a terminal-like stdout with ioctl.
    execFileSync("strace", ["-f", "-qq", "-o", out, ...argv], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    const names = new Set<string>();
    for (const line of readFileSync(out, "utf8").split("\n")) {
      const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
      if (m?.[1] !== undefined) names.add(m[1]);
    }
    return names;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
