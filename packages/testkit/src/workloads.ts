import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../workloads/", import.meta.url));

/**
 * Deterministic real workloads for recorder tests. Each has a command and the output its own
 * check expects, so a test can run it recorded, under strace, and enforced in runc.
 */
export interface Workload {
  name: string;
  argv: string[];
  /** Exact stdout on success. */
  expect: string;
}

/** Compiles the C workloads into a fresh directory (also the working directory of the runs). */
export function buildWorkloads(): { dir: string; workloads: Workload[] } {
  const dir = mkdtempSync(path.join(tmpdir(), "secprof-workloads-"));
  const cc = (name: string, extra: string[] = []) => {
    execFileSync("gcc", ["-O1", "-o", path.join(dir, name), path.join(SRC, `${name}.c`), ...extra]);
    return path.join(dir, name);
  };
  return {
    dir,
    workloads: [
      {
        name: "shell pipeline",
        argv: ["/bin/sh", "-c", "ls /usr | sort | head -n 3 | wc -l"],
        expect: "3\n",
      },
      { name: "multi-threaded", argv: [cc("threads", ["-pthread"])], expect: "ok 4\n" },
      { name: "fork and exec", argv: [cc("forkexec")], expect: "ok\n" },
      { name: "short-lived", argv: ["/usr/bin/true"], expect: "" },
      { name: "tcp pair on loopback", argv: [cc("netpair")], expect: "pong\n" },
    ],
  };
}
