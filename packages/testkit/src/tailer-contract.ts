/**
 * Rotation contract for log tailers: any tailer wrapped in `TailerUnderTest` can be run through the same
 * vitest suite, so "does it lose or repeat lines across rotation?" is answered by measurement, not by its
 * README. Every test writes numbered lines to real files in a temp dir and checks the full delivered
 * sequence: every line exactly once, in order, byte-for-byte.
 *
 * The checkpoint is opaque here (testkit does not depend on the recorder): the suite only stores it,
 * round-trips it through JSON (it will live in a file) and hands it back on restart.
 */
import type { FileHandle } from "node:fs/promises";
import { copyFile, mkdtemp, open, rename, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface TailerUnderTest<C = unknown> {
  /**
   * Follows `path`, calling `onLine` once per complete line (without its "\n"), in file order. Resolves once
   * the tailer is positioned. Without `from` the suite always starts on an existing empty file, so "from the
   * beginning" and "from the end" coincide and both policies pass.
   */
  start(path: string, onLine: (line: string) => void, from?: C | undefined): Promise<void>;
  /**
   * Stops and returns a checkpoint covering exactly the lines delivered so far: starting a new tailer from
   * it must continue with the next line. No line may be delivered after `stop` resolves.
   */
  stop(): Promise<C | undefined>;
  /** Lines longer than the tailer's limit that it dropped instead of delivering (counted, never split). */
  droppedLongLines?(): number;
}

export interface TailerContractOptions {
  /** How long to keep listening after the expected count arrived, to catch late duplicates. */
  settleMs?: number;
  /** How long to wait for the expected lines before judging what arrived. */
  deliveryTimeoutMs?: number;
  /** Pause that lets a polling tailer observe an intermediate state (file missing, new file empty). */
  observeMs?: number;
}

const FILLER = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(3);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The one true content of line `n`: any other string delivered for it counts as foreign. */
export function contractLine(n: number): string {
  return `line ${String(n).padStart(8, "0")} ${FILLER}`;
}

function lines(from: number, to: number): string {
  let out = "";
  for (let n = from; n <= to; n++) out += `${contractLine(n)}\n`;
  return out;
}

function numberOf(line: string): number | undefined {
  const m = /^line (\d{8}) /.exec(line);
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return line === contractLine(n) ? n : undefined;
}

export interface DeliverySummary {
  delivered: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  /** Strings that are not one of the expected lines (split, merged or corrupted lines). */
  foreign: number;
}

/** Compares delivered lines with the numbered lines `first..last`; the ideal is `{delivered: n, 0, 0, 0, 0}`. */
export function summarizeDelivery(received: readonly string[], first: number, last: number): DeliverySummary {
  const seen = new Uint8Array(last - first + 1);
  let duplicates = 0;
  let outOfOrder = 0;
  let foreign = 0;
  let prev = first - 1;
  for (const line of received) {
    const n = numberOf(line);
    if (n === undefined || n < first || n > last) {
      foreign++;
      continue;
    }
    if (seen[n - first] === 1) duplicates++;
    seen[n - first] = 1;
    if (n !== prev + 1) outOfOrder++;
    prev = n;
  }
  let missing = 0;
  for (const s of seen) if (s === 0) missing++;
  return { delivered: received.length, missing, duplicates, outOfOrder, foreign };
}

function exactly(first: number, last: number): DeliverySummary {
  return { delivered: last - first + 1, missing: 0, duplicates: 0, outOfOrder: 0, foreign: 0 };
}

/**
 * Auditd's own rotation (also logrotate's numbered scheme): shift audit.log.k to .k+1, dropping the
 * oldest, then audit.log to .1. The caller opens a new audit.log afterwards.
 */
async function shiftRotated(log: string, keep: number): Promise<void> {
  await rm(`${log}.${keep}`, { force: true });
  for (let k = keep - 1; k >= 1; k--) {
    await rename(`${log}.${k}`, `${log}.${k + 1}`).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    });
  }
  await rename(log, `${log}.1`);
}

/**
 * A writer that outruns the reader: from its own thread (the reader's slow line handler blocks the test's
 * event loop), `rounds` times: append `perRound` lines, rotate (auditd's rename with `shiftRotated`'s
 * numbering, or logrotate's copytruncate: copy to .1, truncate in place, keep writing through the same
 * O_APPEND descriptor), pause 2 ms; then `perRound` more lines. No rotated file is deleted: every line stays
 * readable somewhere, so a tailer that loses one loses it by itself. Posts the last line number.
 */
const LAGGING_WRITER = `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { log, first, rounds, perRound, kind, filler } = workerData;
const nap = new Int32Array(new SharedArrayBuffer(4));
const line = (n) => "line " + String(n).padStart(8, "0") + " " + filler + "\\n";
let fd = fs.openSync(log, "a");
let n = first;
const append = () => {
  let text = "";
  for (let i = 0; i < perRound; i++, n++) text += line(n);
  fs.writeSync(fd, text);
};
for (let r = 0; r < rounds; r++) {
  append();
  for (let k = rounds; k >= 1; k--) {
    try { fs.renameSync(log + "." + k, log + "." + (k + 1)); } catch (e) { if (e.code !== "ENOENT") throw e; }
  }
  if (kind === "rename") {
    fs.closeSync(fd);
    fs.renameSync(log, log + ".1");
    fd = fs.openSync(log, "a");
  } else {
    fs.copyFileSync(log, log + ".1");
    fs.ftruncateSync(fd, 0);
  }
  Atomics.wait(nap, 0, 0, 2);
}
append();
fs.closeSync(fd);
parentPort.postMessage(n - 1);
`;

/** Runs LAGGING_WRITER to completion; resolves with the last line number written. */
function lagWriter(log: string, kind: "rename" | "copytruncate", first: number): Promise<number> {
  const worker = new Worker(LAGGING_WRITER, {
    eval: true,
    workerData: { log, first, rounds: 12, perRound: 800, kind, filler: FILLER },
  });
  return new Promise<number>((resolve, reject) => {
    worker.once("message", (last: number) => resolve(last));
    worker.once("error", reject);
  });
}

/** A line handler that takes `us` microseconds per line, so the tailer falls behind a fast writer. */
function slowly(us: number, onLine: (line: string) => void): (line: string) => void {
  return (line) => {
    const until = performance.now() + us / 1000;
    while (performance.now() < until) {
      // busy: the tailer cannot read while its consumer works, as in a loaded recorder
    }
    onLine(line);
  };
}

export function tailerContract<C>(
  name: string,
  make: () => TailerUnderTest<C>,
  options: TailerContractOptions = {},
): void {
  const settleMs = options.settleMs ?? 300;
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 5_000;
  const observeMs = options.observeMs ?? 200;
  const testTimeout = deliveryTimeoutMs * 2 + 5_000;

  describe(`tailer contract: ${name}`, () => {
    let dir = "";
    let log = "";
    let running: TailerUnderTest<C>[] = [];
    let writers: FileHandle[] = [];

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), "secprof-tailer-contract-"));
      log = join(dir, "audit.log");
      running = [];
      writers = [];
    });

    afterEach(async () => {
      for (const t of running) await t.stop();
      for (const w of writers) await w.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    });

    async function startTailer(got: string[], from?: C, usPerLine = 0): Promise<TailerUnderTest<C>> {
      const t = make();
      const push = (line: string) => {
        got.push(line);
      };
      await t.start(log, usPerLine > 0 ? slowly(usPerLine, push) : push, from);
      running.push(t);
      return t;
    }

    /** Stops `t` and returns its checkpoint as it would come back from a checkpoint file. */
    async function stopTailer(t: TailerUnderTest<C>): Promise<C | undefined> {
      running = running.filter((r) => r !== t);
      const cp = await t.stop();
      return cp === undefined ? undefined : (JSON.parse(JSON.stringify(cp)) as C);
    }

    async function appender(path = log): Promise<FileHandle> {
      const w = await open(path, "a");
      writers.push(w);
      return w;
    }

    /** Waits for `count` lines (or the timeout), then a settle period so late duplicates show up too. */
    async function delivered(got: readonly string[], count: number, what = () => got.length): Promise<void> {
      const end = Date.now() + deliveryTimeoutMs;
      while (what() < count && Date.now() < end) await sleep(10);
      await sleep(settleMs);
    }

    it(
      "delivers lines appended while tailing, exactly once and in order",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        const w = await appender();
        let n = 1;
        for (let i = 0; i < 20; i++) {
          await w.write(lines(n, n + 249));
          n += 250;
          if (i % 5 === 0) await sleep(20);
        }
        // One record per write(), the way auditd writes.
        for (let i = 0; i < 200; i++, n++) await w.write(lines(n, n));
        await delivered(got, n - 1);
        expect(summarizeDelivery(got, 1, n - 1)).toEqual(exactly(1, n - 1));
      },
      testTimeout,
    );

    it(
      "rename rotation (logrotate create): keeps lines the writer adds to the renamed file before it reopens",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        const old = await appender();
        await old.write(lines(1, 2000));
        await rename(log, `${log}.1`);
        await old.write(lines(2001, 2500)); // the writer has not been told yet
        await sleep(observeMs); // path missing for a while
        await writeFile(log, ""); // logrotate's "create"
        await old.write(lines(2501, 3000)); // still before the postrotate signal
        await sleep(observeMs); // new file exists but is empty
        const cur = await appender();
        await cur.write(lines(3001, 5000));
        await delivered(got, 5000);
        expect(summarizeDelivery(got, 1, 5000)).toEqual(exactly(1, 5000));
      },
      testTimeout,
    );

    it(
      "rename rotation (auditd): follows several rotations in quick succession, through the rotated files",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        let n = 1;
        for (let r = 0; r < 6; r++) {
          const w = await appender();
          for (let i = 0; i < 4; i++, n += 250) await w.write(lines(n, n + 249));
          await w.close();
          await shiftRotated(log, 8);
          await writeFile(log, "", { flag: "wx" }); // auditd opens the new log right away
          if (r % 2 === 0) await sleep(30);
        }
        const w = await appender();
        await w.write(lines(n, n + 499));
        n += 500;
        await delivered(got, n - 1);
        expect(summarizeDelivery(got, 1, n - 1)).toEqual(exactly(1, n - 1));
      },
      testTimeout,
    );

    it(
      "delete and recreate: reads the rest of the deleted file, then the new one",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        const old = await appender();
        await old.write(lines(1, 2000));
        await old.close();
        await unlink(log);
        await writeFile(log, lines(2001, 3000), { flag: "wx" });
        const cur = await appender();
        await cur.write(lines(3001, 4000));
        await delivered(got, 4000);
        expect(summarizeDelivery(got, 1, 4000)).toEqual(exactly(1, 4000));
      },
      testTimeout,
    );

    it(
      "copytruncate: lines not yet read when the file was copied and truncated are not lost",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        const w = await appender();
        // The tailer has read up to line 1000 (so it knows where it is in this file); lines
        // 1001–3000 are written, copied away and truncated before it looks again.
        await w.write(lines(1, 1000));
        await delivered(got, 1000);
        await w.write(lines(1001, 3000));
        await copyFile(log, `${log}.1`);
        await w.truncate(0);
        await w.write(lines(3001, 4000)); // O_APPEND: lands at offset 0 of the truncated file
        await delivered(got, 4000);
        expect(summarizeDelivery(got, 1, 4000)).toEqual(exactly(1, 4000));
      },
      testTimeout,
    );

    it(
      "copytruncate: truncation is noticed even when the file regrew past the old offset before the next look",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        await startTailer(got);
        const w = await appender();
        await w.write(lines(1, 1000));
        await delivered(got, 1000);
        await copyFile(log, `${log}.1`);
        await w.truncate(0);
        await w.write(lines(1001, 4000)); // three times the old size, in one write
        await delivered(got, 4000);
        expect(summarizeDelivery(got, 1, 4000)).toEqual(exactly(1, 4000));
      },
      testTimeout,
    );

    for (const kind of ["copytruncate", "rename"] as const) {
      it(
        `${kind} with the reader behind: a writer rotating many times while the reader works through older lines loses nothing`,
        async () => {
          await writeFile(log, "");
          const got: string[] = [];
          await startTailer(got, undefined, 25);
          // The tailer knows where it is in the first file before the writer starts outrunning it.
          const w = await appender();
          await w.write(lines(1, 400));
          await delivered(got, 400);
          await w.close();
          const last = await lagWriter(log, kind, 401);
          await delivered(got, last);
          expect(summarizeDelivery(got, 1, last)).toEqual(exactly(1, last));
        },
        testTimeout,
      );
    }

    it(
      "restart from checkpoint mid-stream: no loss, no repeat, nothing delivered after stop",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        const first = await startTailer(got);
        const w = await appender();
        const total = 20_000;
        const writing = (async () => {
          for (let n = 1; n <= total; n += 200) {
            await w.write(lines(n, n + 199));
            await sleep(10);
          }
        })();
        // Stop as soon as 3000 lines are in, while the writer is still going (no settle pause here).
        const end = Date.now() + deliveryTimeoutMs;
        while (got.length < 3000 && Date.now() < end) await sleep(5);
        const cp = await stopTailer(first);
        const atStop = got.length;
        await writing;
        await sleep(settleMs);
        expect(got.length, "lines delivered after stop() resolved").toBe(atStop);
        expect(atStop, "the writer outran the test: stop was not mid-stream").toBeLessThan(total);
        await startTailer(got, cp);
        await delivered(got, total);
        expect(summarizeDelivery(got, 1, total)).toEqual(exactly(1, total));
      },
      testTimeout,
    );

    it(
      "restart after a rename rotation while down: reads the rest of the checkpointed file (now .1) first",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        const first = await startTailer(got);
        const old = await appender();
        await old.write(lines(1, 1000));
        await delivered(got, 1000);
        await old.write(lines(1001, 1500));
        const cp = await stopTailer(first); // some of 1001..1500 may still be unread
        await old.write(lines(1501, 2000));
        await rename(log, `${log}.1`);
        await writeFile(log, lines(2001, 3000), { flag: "wx" });
        await startTailer(got, cp);
        await delivered(got, 3000);
        expect(summarizeDelivery(got, 1, 3000)).toEqual(exactly(1, 3000));
      },
      testTimeout,
    );

    it(
      "restart after truncation while down: offset beyond the new size starts at 0 of the file",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        const first = await startTailer(got);
        const w = await appender();
        await w.write(lines(1, 1000));
        await delivered(got, 1000);
        const cp = await stopTailer(first);
        await truncate(log, 0);
        await w.write(lines(1001, 1010));
        await startTailer(got, cp);
        await delivered(got, 1010);
        expect(summarizeDelivery(got, 1, 1010)).toEqual(exactly(1, 1010));
      },
      testTimeout,
    );

    it(
      "partial last line: not delivered until its newline arrives, also across a restart",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        const first = await startTailer(got);
        const w = await appender();
        const three = contractLine(3);
        await w.write(`${lines(1, 2)}${three.slice(0, 20)}`);
        await delivered(got, 2);
        expect(got).toEqual([contractLine(1), contractLine(2)]);
        await w.write(`${three.slice(20)}\n`);
        await delivered(got, 3);
        const four = contractLine(4);
        await w.write(four.slice(0, 30));
        await sleep(settleMs);
        const cp = await stopTailer(first);
        await w.write(`${four.slice(30)}\n${lines(5, 6)}`);
        await startTailer(got, cp);
        await delivered(got, 6);
        expect(summarizeDelivery(got, 1, 6)).toEqual(exactly(1, 6));
      },
      testTimeout,
    );

    it(
      "a line over 1 MiB is delivered whole or dropped and counted, never split",
      async () => {
        await writeFile(log, "");
        const got: string[] = [];
        const t = await startTailer(got);
        const w = await appender();
        const long = "L".repeat(1536 * 1024);
        await w.write(lines(1, 10));
        // Written in pieces so the tailer sees it across several reads.
        for (let i = 0; i < long.length; i += 256 * 1024) {
          await w.write(long.slice(i, i + 256 * 1024));
          await sleep(10);
        }
        await w.write(`\n${lines(11, 20)}`);
        const numbered = () => got.filter((l) => numberOf(l) !== undefined);
        await delivered(got, 20, () => numbered().length);
        expect(summarizeDelivery(numbered(), 1, 20)).toEqual(exactly(1, 20));
        const others = got.filter((l) => numberOf(l) === undefined);
        if (others.length === 0) {
          expect(t.droppedLongLines?.() ?? 0, "long line neither delivered nor counted as dropped").toBe(1);
        } else {
          expect(others.length, "long line delivered in pieces").toBe(1);
          expect(others[0] === long, "long line delivered altered").toBe(true);
          expect(got.indexOf(long)).toBe(10);
        }
      },
      testTimeout,
    );
  });
}
