import type { Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Checkpoint } from "@secprof/core";
import { LineSplitter } from "@secprof/core";
import { ChangeSignal } from "./change-signal.js";
import {
  closeAll,
  type FileId,
  type OpenedFile,
  openNewestFirst,
  openPinned,
  sameFile,
} from "./rotated-files.js";

export const DEFAULT_AUDIT_LOG = "/var/log/audit/audit.log";

export interface AuditLogFollowerOptions {
  /** Followed path; default /var/log/audit/audit.log. */
  path?: string;
  /** Where a previous run stopped. */
  from?: Checkpoint | undefined;
  /**
   * Where to begin without a checkpoint (none, corrupt, or taken for another path). "end" (default) skips the
   * history that predates the recording.
   */
  startAt?: "start" | "end";
  /** Longest idle time before looking at the files again, for when inotify says nothing. */
  pollMs?: number;
  /** Bytes per read; its lines are handed out in batches of at most 64 KiB of text each. */
  chunkBytes?: number;
  /** Longer lines are dropped and counted (auditd records are < 9 KiB). */
  maxLineBytes?: number;
  onEvent?: (event: FollowEvent) => void;
}

/** Lines (latin1, one char per byte, without "\n") and the checkpoint to save once they are processed. */
export interface LineBatch {
  lines: string[];
  checkpoint: Checkpoint;
}

export type FollowEvent =
  | { kind: "resumed"; file: string; offset: number }
  | { kind: "checkpoint-not-used"; reason: string; startingAt: { file: string; offset: number } | undefined }
  | { kind: "switched"; from: string | undefined; to: string; reason: "rotated" | "appeared" }
  | { kind: "truncated"; file: string; recoveredFrom: string | undefined };

export interface FollowerStats {
  rotations: number;
  truncations: number;
  /** Truncations whose unread tail was found in a copy (copytruncate) and read from there. */
  truncationsRecovered: number;
  droppedLongLines: number;
  bytesRead: number;
}

interface Reading {
  file: OpenedFile;
  splitter: LineSplitter;
}

/**
 * "data": new bytes at `buf[start, end)` (maybe none, to read again). "replaced": the bytes before our
 * offset changed, i.e. the file was truncated (and maybe refilled).
 */
type ReadResult = { kind: "data"; start: number; end: number } | { kind: "eof" | "replaced" };

/**
 * Bytes kept from just before the read position. Every read re-reads them and compares: a mismatch means the
 * file was truncated and refilled (copytruncate) even when it regrew past our offset, which a size check
 * misses. 4 KiB holds a whole audit record, whose serial number makes it unique.
 */
const GUARD = 4096;

/**
 * Follows an auditd log across rotation by rename (auditd's own and logrotate's), copytruncate,
 * delete-and-recreate and restarts, handing out every line exactly once, in order, in batches.
 *
 * Files are held open and identified by dev + inode, never re-opened by name mid-read: after a rename the
 * old handle still reads the old file to its end before moving on. Rotated files skipped while we lagged
 * (or while the recorder was down) are found again among audit.log.N by identity and read in order.
 *
 *   const follower = await AuditLogFollower.open({ path, ...resumeFrom(await loadCheckpoint(cpFile)) });
 *   for await (const { lines, checkpoint } of follower) {
 *     handle(lines);
 *     await saveCheckpoint(cpFile, checkpoint); // after the batch is processed: at-least-once across crashes
 *   }
 */
export class AuditLogFollower implements AsyncIterable<LineBatch> {
  readonly path: string;
  private readonly startAt: "start" | "end";
  private readonly chunkBytes: number;
  private readonly maxLineBytes: number;
  private readonly onEvent: (event: FollowEvent) => void;
  private readonly signal: ChangeSignal;
  private readonly buf: Buffer;
  private readonly guard = Buffer.alloc(GUARD);
  private guardLen = 0;
  private cur: Reading | undefined;
  /** Files to read after `cur`, oldest first. While non-empty, `cur` is finished for good at its EOF. */
  private next: OpenedFile[] = [];
  /**
   * A copy (copytruncate) read after a truncation: when we move on from it to the live file, the live
   * file's bytes from 0 are checked against the copies made since (see `missedCopies`).
   */
  private copyBeforeLive: OpenedFile | undefined;
  /** The live file is at 0 right after `copyBeforeLive` was drained: its first read is checked. */
  private verifyAfter: { dev: number; ino: number; mtimeMs: number } | undefined;
  /** A new, still empty file at the path that we already checked has no rotated files before it. */
  private emptySuccessor: FileId | undefined;
  private last: Checkpoint | undefined;
  private droppedEarlier = 0;
  private closed = false;
  private iterating = false;
  private released = false;
  private readonly counters = { rotations: 0, truncations: 0, truncationsRecovered: 0, bytesRead: 0 };

  private constructor(options: AuditLogFollowerOptions) {
    this.path = options.path ?? DEFAULT_AUDIT_LOG;
    this.startAt = options.startAt ?? "end";
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
    this.maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
    this.onEvent = options.onEvent ?? (() => undefined);
    this.buf = Buffer.allocUnsafe(GUARD + this.chunkBytes);
    this.signal = new ChangeSignal(dirname(this.path), basename(this.path), options.pollMs ?? 250);
  }

  /** Opens the log and positions at the checkpoint (or per `startAt`); iterate the result for batches. */
  static async open(options: AuditLogFollowerOptions = {}): Promise<AuditLogFollower> {
    const f = new AuditLogFollower(options);
    try {
      await f.position(options.from);
    } catch (e) {
      f.closed = true;
      await f.release();
      throw e;
    }
    return f;
  }

  /** Checkpoint after the last batch handed out (or the start position): save it once that batch is processed. */
  get checkpoint(): Checkpoint | undefined {
    return this.last;
  }

  get stats(): FollowerStats {
    return { ...this.counters, droppedLongLines: this.droppedEarlier + (this.cur?.splitter.dropped ?? 0) };
  }

  /**
   * Ends the iteration at its next step (a batch already handed out stays covered by `checkpoint`). Does not
   * wait for the loop, so it may be called from inside it.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.signal.close();
    if (!this.iterating) await this.release();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<LineBatch> {
    if (this.iterating) throw new Error("AuditLogFollower can be iterated only once");
    this.iterating = true;
    try {
      while (!this.closed) {
        const cur = this.cur;
        if (cur === undefined) {
          this.signal.reset();
          if (!(await this.adoptPath())) await this.signal.wait();
          continue;
        }
        this.signal.reset();
        const r = await this.readChunk(cur);
        if (this.closed) break;
        if (r.kind === "data") {
          // A batch per decoded piece: the consumer parses lines while they are still in cache.
          for (const lines of cur.splitter.pushBytes(this.buf, r.start, r.end)) {
            if (lines.length > 0) yield this.batch(cur, lines);
            if (this.closed) break;
          }
          continue;
        }
        if (r.kind === "replaced") {
          await this.onTruncated(cur);
          continue;
        }
        if (this.next.length > 0) {
          const tail = cur.splitter.finish();
          if (tail.length > 0) yield this.batch(cur, tail);
          if (this.closed) break;
          await this.advance();
          continue;
        }
        if (await this.lookAtPath(cur)) continue;
        await this.signal.wait();
      }
    } finally {
      await this.release();
    }
  }

  private batch(cur: Reading, lines: string[]): LineBatch {
    const checkpoint = this.checkpointOf(cur.file, cur.splitter.committed);
    this.last = checkpoint;
    return { lines, checkpoint };
  }

  private checkpointOf(file: OpenedFile, offset: number): Checkpoint {
    return { v: 1, dev: file.dev, ino: file.ino, offset, path: this.path };
  }

  private async readChunk(cur: Reading): Promise<ReadResult> {
    const pos = cur.splitter.position;
    const g = this.guardLen;
    const { bytesRead } = await cur.file.fh.read(this.buf, 0, g + this.chunkBytes, pos - g);
    if (g > 0 && (bytesRead < g || this.buf.compare(this.guard, 0, g, 0, g) !== 0)) {
      return { kind: "replaced" };
    }
    const n = bytesRead - g;
    if (n === 0) return { kind: "eof" };
    if (this.verifyAfter !== undefined) {
      const head = this.buf.subarray(0, Math.min(n, GUARD)); // g is 0: we are at offset 0
      if (await this.missedCopies(cur, head)) return { kind: "data", start: 0, end: 0 };
    }
    const total = g + n;
    const keep = Math.min(GUARD, total);
    this.buf.copy(this.guard, 0, total - keep, total);
    this.guardLen = keep;
    this.counters.bytesRead += n;
    return { kind: "data", start: g, end: total };
  }

  /**
   * At EOF of the live file: has the path moved on (rotation, delete-and-recreate) or shrunk (truncation)?
   * Returns true when there is something new to read.
   */
  private async lookAtPath(cur: Reading): Promise<boolean> {
    let st: Stats;
    try {
      st = await stat(this.path);
    } catch (e) {
      // Renamed away and not recreated yet: keep reading the old file, the writer may still append to it.
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    if (sameFile(st, cur.file)) {
      if (st.size >= cur.splitter.position) return false;
      await this.onTruncated(cur);
      return true;
    }
    if (st.size === 0 && this.emptySuccessor !== undefined && sameFile(st, this.emptySuccessor)) return false;

    const chain = await openNewestFirst(this.path, (f) => sameFile(f, cur.file));
    const at = chain.findIndex((f) => sameFile(f, cur.file));
    let newer: OpenedFile[];
    if (at >= 0) {
      newer = chain.slice(0, at);
      await closeAll(chain.slice(at));
    } else {
      // Ours was deleted: whatever was last written after it is newer (the live file always is).
      const { mtimeMs } = await cur.file.fh.stat();
      newer = chain.filter((f) => !f.rotated || f.mtimeMs >= mtimeMs);
      await closeAll(chain.filter((f) => !newer.includes(f)));
    }
    const queue = newer.reverse();
    const tip = queue.at(-1);
    // logrotate renames, creates, then signals the daemon: until the new file gets data the writer may
    // still be appending to the newest rotated one, so that one stays live until then.
    if (tip !== undefined && !tip.rotated && tip.size === 0) {
      queue.pop();
      await tip.fh.close();
      if (queue.length === 0) {
        this.emptySuccessor = { dev: tip.dev, ino: tip.ino };
        return false;
      }
    }
    if (queue.length === 0) return false;
    this.next = queue;
    // Read `cur` to its end once more (the writer has moved on), then advance.
    return true;
  }

  /**
   * The file we read shrank or was refilled. With copytruncate its unread rest is in the copy: find it by
   * content (the copy has our guard bytes right before our offset), finish it, then read the live file from
   * 0, after any copies made since (`missedCopies`). Without a copy the rest is gone; start over at 0.
   */
  private async onTruncated(cur: Reading): Promise<void> {
    this.counters.truncations++;
    const pos = cur.splitter.position;
    const g = this.guardLen;
    const chain = await openNewestFirst(this.path);
    let copyAt = -1;
    if (g > 0) {
      const probe = Buffer.allocUnsafe(g);
      for (const [i, f] of chain.entries()) {
        if (!f.rotated || sameFile(f, cur.file) || f.size < pos) continue;
        const { bytesRead } = await f.fh.read(probe, 0, g, pos - g);
        if (bytesRead === g && probe.equals(this.guard.subarray(0, g))) {
          copyAt = i;
          break;
        }
      }
    }
    const copy = chain[copyAt];
    if (copy === undefined) {
      await closeAll(chain);
      this.droppedEarlier += cur.splitter.dropped;
      cur.splitter = new LineSplitter(this.maxLineBytes, 0);
      this.guardLen = 0;
      this.last = this.checkpointOf(cur.file, 0);
      this.onEvent({ kind: "truncated", file: cur.file.name, recoveredFrom: undefined });
      return;
    }
    // Newer copies are not queued here: the newest may be a copy of the live file still being made.
    await closeAll(chain.filter((f) => f !== copy));
    this.counters.truncationsRecovered++;
    this.onEvent({ kind: "truncated", file: cur.file.name, recoveredFrom: copy.name });
    // Same bytes up to `pos`, so the splitter state carries over to the copy unchanged.
    this.next = [cur.file];
    this.copyBeforeLive = copy;
    this.cur = { file: copy, splitter: cur.splitter };
    this.last = this.checkpointOf(copy, cur.splitter.committed);
  }

  /**
   * First read of the live file after a drained copy: while we read the copy the writer may have copied and
   * truncated again, so the bytes at 0 may be a later generation than the one that followed the copy. The
   * copies made since, oldest first, up to the first that starts with what we just read (a copy of it,
   * maybe still being made), hold the generations in between: they are complete (their truncation came
   * before the bytes we read were written), so read them first and discard this read. True when it did.
   */
  private async missedCopies(cur: Reading, head: Buffer): Promise<boolean> {
    const after = this.verifyAfter;
    this.verifyAfter = undefined;
    if (after === undefined) return false;
    const chain = await openNewestFirst(this.path, (f) => sameFile(f, after));
    const at = chain.findIndex((f) => sameFile(f, after));
    // Copies keep their names in order; if ours was deleted meanwhile, those written after it are newer.
    const newer = (at >= 0 ? chain.slice(0, at) : chain.filter((f) => f.mtimeMs >= after.mtimeMs))
      .filter((f) => f.rotated && !sameFile(f, cur.file))
      .reverse();
    const missed: OpenedFile[] = [];
    const probe = Buffer.allocUnsafe(head.length);
    for (const f of newer) {
      const { bytesRead } = await f.fh.read(probe, 0, head.length, 0);
      if (probe.subarray(0, bytesRead).equals(head.subarray(0, bytesRead))) break;
      missed.push(f);
    }
    await closeAll(chain.filter((f) => !missed.includes(f)));
    const [first, ...rest] = missed;
    if (first === undefined) return false;
    this.counters.truncations += missed.length;
    this.counters.truncationsRecovered += missed.length;
    this.onEvent({ kind: "truncated", file: cur.file.name, recoveredFrom: first.name });
    this.next = [...rest, cur.file];
    this.copyBeforeLive = missed.at(-1);
    this.cur = { file: first, splitter: new LineSplitter(this.maxLineBytes, 0) };
    this.guardLen = 0;
    this.last = this.checkpointOf(first, 0);
    return true;
  }

  /** `cur` is drained for good: continue with the next queued file from its start. */
  private async advance(): Promise<void> {
    const from = this.cur;
    const to = this.next.shift();
    if (to === undefined) return;
    this.verifyAfter = undefined;
    if (from !== undefined) {
      this.droppedEarlier += from.splitter.dropped;
      if (from.file === this.copyBeforeLive) {
        this.copyBeforeLive = undefined;
        const { dev, ino, mtimeMs } = from.file;
        if (!to.rotated) this.verifyAfter = { dev, ino, mtimeMs };
      }
      if (to.fh !== from.file.fh) await from.file.fh.close().catch(() => undefined);
    }
    this.cur = { file: to, splitter: new LineSplitter(this.maxLineBytes, 0) };
    this.guardLen = 0;
    this.emptySuccessor = undefined;
    // Everything of `from` was handed out, so "start of `to`" is an exact checkpoint and survives the
    // deletion of `from`.
    this.last = this.checkpointOf(to, 0);
    this.counters.rotations++;
    this.onEvent({ kind: "switched", from: from?.file.name, to: to.name, reason: "rotated" });
  }

  /** No file at the path when we started: read it from its start once it appears. */
  private async adoptPath(): Promise<boolean> {
    const f = await openPinned(this.path);
    if (f === undefined) return false;
    this.cur = { file: f, splitter: new LineSplitter(this.maxLineBytes, 0) };
    this.guardLen = 0;
    this.last = this.checkpointOf(f, 0);
    this.onEvent({ kind: "switched", from: undefined, to: f.name, reason: "appeared" });
    return true;
  }

  private async position(from: Checkpoint | undefined): Promise<void> {
    if (from !== undefined && from.path !== this.path) {
      await this.startFresh(`checkpoint is for ${from.path}`);
      return;
    }
    if (from === undefined) {
      await this.startFresh(undefined);
      return;
    }
    const chain = await openNewestFirst(this.path, (f) => sameFile(f, from));
    const at = chain.findIndex((f) => sameFile(f, from));
    const file = chain[at];
    if (file === undefined) {
      // Our file was deleted while we were down; what is at the path now was never read.
      const live = chain[0]?.rotated === false ? chain[0] : undefined;
      await closeAll(chain, live?.fh);
      if (live !== undefined) this.begin(live, 0);
      this.onEvent({
        kind: "checkpoint-not-used",
        reason: "checkpointed file no longer exists",
        startingAt: live && { file: live.name, offset: 0 },
      });
      return;
    }
    const queue = chain.slice(0, at).reverse();
    const tip = queue.at(-1);
    if (tip !== undefined && !tip.rotated && tip.size === 0) {
      queue.pop();
      await tip.fh.close();
    }
    this.next = queue;
    const offset = await this.guardedStart(file, from.offset);
    if (offset === undefined) {
      // Shorter than the offset, or the offset is not at a line start: truncated (and maybe refilled) while
      // we were down, or the inode number was reused. Either way these bytes are new to us.
      this.begin(file, 0);
      this.onEvent({
        kind: "checkpoint-not-used",
        reason: `${file.name} no longer matches the checkpoint (truncated or replaced)`,
        startingAt: { file: file.name, offset: 0 },
      });
      return;
    }
    this.onEvent({ kind: "resumed", file: file.name, offset });
  }

  private async startFresh(reason: string | undefined): Promise<void> {
    const live = await openPinned(this.path);
    if (live === undefined) {
      if (reason !== undefined) this.onEvent({ kind: "checkpoint-not-used", reason, startingAt: undefined });
      return;
    }
    if (this.startAt === "start") this.begin(live, 0);
    else await this.beginAtEnd(live);
    if (reason !== undefined) {
      const startingAt = { file: live.name, offset: this.cur?.splitter.position ?? 0 };
      this.onEvent({ kind: "checkpoint-not-used", reason, startingAt });
    }
  }

  private begin(file: OpenedFile, offset: number, skipToNewline = false): void {
    this.cur = { file, splitter: new LineSplitter(this.maxLineBytes, offset, skipToNewline) };
    this.guardLen = 0;
    this.last = this.checkpointOf(file, offset);
  }

  /** Loads the guard for `offset` and checks that a line starts there; undefined when it does not. */
  private async guardedStart(file: OpenedFile, offset: number): Promise<number | undefined> {
    if (offset > file.size) return undefined;
    const g = Math.min(GUARD, offset);
    const { bytesRead } = await file.fh.read(this.guard, 0, g, offset - g);
    if (bytesRead < g || (g > 0 && this.guard[g - 1] !== 0x0a)) return undefined;
    this.begin(file, offset);
    this.guardLen = g;
    return offset;
  }

  /** Starts after the last complete line, so a record being written right now is read whole. */
  private async beginAtEnd(file: OpenedFile): Promise<void> {
    const size = file.size;
    const g = Math.min(GUARD, size);
    const { bytesRead } = await file.fh.read(this.guard, 0, g, size - g);
    const window = this.guard.subarray(0, bytesRead);
    const nl = window.lastIndexOf(0x0a);
    if (nl < 0 && size > 0) {
      // No line end in the last 4 KiB: start at the end and skip the rest of that line.
      this.begin(file, size, true);
      this.guardLen = bytesRead;
      return;
    }
    this.begin(file, size - bytesRead + nl + 1);
    this.guardLen = nl + 1;
  }

  private async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.signal.close();
    const files = [...this.next];
    if (this.cur !== undefined && !files.some((f) => f.fh === this.cur?.file.fh)) files.push(this.cur.file);
    this.next = [];
    await closeAll(files);
  }
}
