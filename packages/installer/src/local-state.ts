import path from "node:path";
import { z } from "zod";
import { InstalledEntry } from "./install.js";
import { readFileNoFollow, withFileLock, writeFileAtomic } from "./local-file.js";
import { NodeProfileStatus } from "./status.js";

/**
 * Single-host install state (default `<dir>/.secprof/install-state.json`): per host root, the
 * manifest of what this installer put there (so a profile removed from the directory is removed
 * from the host, and nothing else ever is) and the last statuses. Written atomically under a
 * lock. A corrupt file is an error: without the manifest the installer would not know what it
 * owns, so it refuses to guess.
 */

export const RootState = z.object({
  installed: z.array(InstalledEntry),
  statuses: z.array(NodeProfileStatus),
});
export type RootState = z.infer<typeof RootState>;

export const InstallStateFile = z.object({
  version: z.literal(1),
  roots: z.record(z.string(), RootState),
});
export type InstallStateFile = z.infer<typeof InstallStateFile>;

export class LocalInstallState {
  constructor(readonly file: string) {}

  static defaultPath(dir: string): string {
    return path.join(dir, ".secprof", "install-state.json");
  }

  async load(): Promise<InstallStateFile> {
    const text = await readFileNoFollow(this.file);
    if (text === undefined) return { version: 1, roots: {} };
    const parsed = InstallStateFile.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new Error(`${this.file} is not an install state file: ${parsed.error.issues[0]?.message ?? ""}`);
    return parsed.data;
  }

  async root(root: string): Promise<RootState> {
    return (await this.load()).roots[root] ?? { installed: [], statuses: [] };
  }

  /** Runs `fn` with the state of `root` under the lock and stores what it returns. */
  async update<T>(root: string, fn: (s: RootState) => Promise<{ state: RootState; result: T }>): Promise<T> {
    return withFileLock(this.file, async () => {
      const all = await this.load();
      const { state, result } = await fn(all.roots[root] ?? { installed: [], statuses: [] });
      all.roots[root] = RootState.parse(state);
      await writeFileAtomic(this.file, `${JSON.stringify(all, null, 2)}\n`, 0o600);
      return result;
    });
  }
}
