/**
 * The on-disk half of the observation spool: an append-only NDJSON file, one Observation per line,
 * fsync'd before `append` resolves, so spooled observations survive a `kill -9` of the recorder.
 *
 * - Concurrent appends are group-committed: one write and one fsync for everything queued.
 * - `clear()` truncates (after the in-memory spool drained into Redis); `rewrite()` replaces the file
 *   atomically (temp file, fsync, rename, fsync of the directory) to drop lines already replayed.
 * - `open()` returns the observations found; a torn or invalid line (a crash mid-write) is counted and
 *   skipped, never fatal. Lines replayed twice are harmless: job ids and the merge are idempotent.
 */
import { type FileHandle, open, readFile, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Observation } from "@secprof/core";

export interface LoadedSpool {
  spool: FileSpool;
  observations: Observation[];
  /** Lines that were not a valid observation (torn tail after a crash, foreign content). */
  corrupt: number;
}

type Op = () => Promise<void>;

export class FileSpool {
  private queued: string[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private committing = false;
  /** Lines in the file (replayed or not). */
  private count: number;

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    lines: number,
  ) {
    this.count = lines;
  }

  static async open(path: string): Promise<LoadedSpool> {
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const observations: Observation[] = [];
    let corrupt = 0;
    let lines = 0;
    for (const line of text.split("\n")) {
      if (line.length === 0) continue;
      lines++;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        corrupt++;
        continue;
      }
      const r = Observation.safeParse(value);
      if (r.success) observations.push(r.data);
      else corrupt++;
    }
    const fh = await open(path, "a", 0o600);
    await fsyncDir(dirname(path));
    const spool = new FileSpool(path, fh, lines);
    // A torn tail has no newline: start appends on a fresh line.
    if (text.length > 0 && !text.endsWith("\n")) await spool.op(() => spool.writeSync("\n"));
    return { spool, observations, corrupt };
  }

  get lines(): number {
    return this.count;
  }

  /** Appends one line (an observation's JSON, without newline); resolves once it is on disk. */
  append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push(line);
      this.waiters.push({ resolve, reject });
      if (!this.committing) {
        this.committing = true;
        void this.op(() => this.commit());
      }
    });
  }

  /** Empties the file (everything in it reached Redis). */
  clear(): Promise<void> {
    return this.op(async () => {
      await this.fh.truncate(0);
      await this.fh.sync();
      this.count = 0;
    });
  }

  /** Atomically replaces the content with `lines` (the observations still waiting). */
  rewrite(lines: readonly string[]): Promise<void> {
    return this.op(async () => {
      const tmp = join(dirname(this.path), `.${basename(this.path)}.tmp`);
      const t = await open(tmp, "w", 0o600);
      try {
        if (lines.length > 0) await t.writeFile(`${lines.join("\n")}\n`);
        await t.sync();
      } finally {
        await t.close();
      }
      await rename(tmp, this.path);
      await fsyncDir(dirname(this.path));
      await this.fh.close();
      this.fh = await open(this.path, "a", 0o600);
      this.count = lines.length;
    });
  }

  async close(): Promise<void> {
    await this.op(() => this.fh.close());
  }

  private async commit(): Promise<void> {
    while (this.queued.length > 0) {
      const lines = this.queued;
      const waiters = this.waiters;
      this.queued = [];
      this.waiters = [];
      try {
        await this.writeSync(`${lines.join("\n")}\n`);
        this.count += lines.length;
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.committing = false;
  }

  private async writeSync(text: string): Promise<void> {
    await this.fh.write(text);
    await this.fh.sync();
  }

  private op(fn: Op): Promise<void> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
