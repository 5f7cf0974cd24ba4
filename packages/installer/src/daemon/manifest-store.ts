import type { InstalledEntry } from "../install.js";
import { LocalInstallState } from "../local-state.js";
import type { NodeProfileStatus } from "../status.js";

/**
 * Where the daemon keeps what it installed (reconcile's manifest): in memory, or in a state file
 * (the single-host install state, keyed by host root) so a restart remembers it. Saving happens
 * after every reconcile that changed it.
 */
export interface ManifestStore {
  load(): Promise<InstalledEntry[]>;
  save(installed: InstalledEntry[], statuses: NodeProfileStatus[]): Promise<void>;
}

export function memoryManifest(): ManifestStore {
  let entries: InstalledEntry[] = [];
  return {
    load: async () => entries,
    save: async (installed) => {
      entries = installed;
    },
  };
}

export function fileManifest(file: string, root: string): ManifestStore {
  const state = new LocalInstallState(file);
  return {
    load: async () => (await state.root(root)).installed,
    save: (installed, statuses) =>
      state.update(root, async () => ({ state: { installed, statuses }, result: undefined })),
  };
}
