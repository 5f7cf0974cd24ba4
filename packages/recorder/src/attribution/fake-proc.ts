import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A fake procfs tree for tests of code that takes a proc root: `/<pid>/{stat,cgroup,ns/mnt}` and
 * `/uptime`, written the way the kernel formats them.
 */
export interface FakeProcess {
  pid: number;
  /** Start time in clock ticks after boot (field 22 of stat). */
  start: number;
  cgroup: string;
  mntns?: number;
  comm?: string;
}

export class FakeProc {
  readonly root: string;

  constructor(uptimeSeconds = 1000) {
    this.root = mkdtempSync(path.join(tmpdir(), "secprof-fakeproc-"));
    this.setUptime(uptimeSeconds);
  }

  setUptime(seconds: number): void {
    writeFileSync(path.join(this.root, "uptime"), `${seconds.toFixed(2)} ${(seconds * 3.7).toFixed(2)}\n`);
  }

  /** Creates or replaces process `pid` (replacing models pid reuse). */
  spawn(p: FakeProcess): void {
    this.exit(p.pid);
    const dir = path.join(this.root, String(p.pid));
    mkdirSync(path.join(dir, "ns"), { recursive: true });
    const comm = p.comm ?? "sleep";
    writeFileSync(
      path.join(dir, "stat"),
      `${p.pid} (${comm}) S 1 ${p.pid} ${p.pid} 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 ${p.start} 2392064 128 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`,
    );
    writeFileSync(path.join(dir, "cgroup"), p.cgroup);
    if (p.mntns !== undefined) symlinkSync(`mnt:[${p.mntns}]`, path.join(dir, "ns", "mnt"));
  }

  exit(pid: number): void {
    rmSync(path.join(this.root, String(pid)), { recursive: true, force: true });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
