import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Stand-ins for bpftrace, so the sources' process handling is tested without root. A stand-in is a
 * shell script; its body may call `relay`, which prints the marker command's exec line the way
 * bpftrace prints the exec of the marker it waits for (the "probes are live" barrier).
 */
export interface FakeBpftrace {
  readonly dir: string;
  /** Writes the executable stand-in `name` (path returned). */
  script(name: string, body: string): string;
  /** The marker command `name`'s stand-in relays: an exec line with its own pid; `last` is its last field. */
  marker(name: string, last: number): string[];
  remove(): void;
}

export function fakeBpftraceDir(prefix: string): FakeBpftrace {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    script(name, body) {
      const p = join(dir, name);
      const relay = `M="${dir}/${name}.marker"\nrelay() { if mv "$M" "$M.r" 2>/dev/null; then cat "$M.r"; fi; }\n`;
      writeFileSync(p, `#!/bin/sh\n${relay}${body}\n`);
      chmodSync(p, 0o755);
      return p;
    },
    marker(name, last) {
      const line = `{"type": "value", "data": ["exec",%d,1,7,"marker","/marker",${last}]}`;
      return [
        "sh",
        "-c",
        `printf '${line}\\n' $$ > "${dir}/${name}.tmp" && mv "${dir}/${name}.tmp" "${dir}/${name}.marker"`,
      ];
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
