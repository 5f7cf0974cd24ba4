import { type FSWatcher, watch } from "node:fs";

/**
 * Wakes a follower idling at end of file: on an inotify event for the log's directory (appends to the live
 * file, appends to a renamed one, creates, renames, deletes) or after `pollMs` at the latest, because inotify
 * is not available everywhere (NFS, some overlay setups) and can overflow.
 *
 * One persistent watcher, not one per wait: the kernel merges identical unread events, so a writer doing
 * one write() per record costs about one callback per read cycle, not one per record.
 */
export class ChangeSignal {
  private changed = true;
  private closed = false;
  private wake: (() => void) | undefined;
  private watcher: FSWatcher | undefined;

  constructor(
    dir: string,
    prefix: string,
    private readonly pollMs: number,
  ) {
    try {
      this.watcher = watch(dir, (_event, name) => {
        if (name === null || name.startsWith(prefix)) this.fire();
      });
      this.watcher.on("error", () => {
        // Directory gone or watch limit hit: keep going on the poll timer alone.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
  }

  /** Forgets earlier changes. Called before looking at the files, so a change during the look is not missed. */
  reset(): void {
    this.changed = false;
  }

  /** Resolves at the first change since `reset()`, after `pollMs` at most, and at once when closed. */
  wait(): Promise<void> {
    if (this.changed || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fire(), this.pollMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.fire();
  }

  private fire(): void {
    this.changed = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
