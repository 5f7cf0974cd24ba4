/**
 * Tail + split + parse throughput across rotation: a writer thread appends numbered SECCOMP records in the
 * kernel's layout (~210 B) as fast as it can and rotates every 250 ms; the tailer under test hands each line
 * to the recorder's parse step (`recorderParser()`, the configuration packages/recorder/src/main.ts runs),
 * the same for every tailer, inside the measured time. Reported per tailer and rotation kind: lines/s,
 * delivered/expected, duplicates, missing, out of order, events parsed. Budget for ours (issue 3): every line
 * delivered exactly once, and >= 1 M lines/s through tail + split + parse where the reader sets the pace
 * (unpaced writer, or backlog); `--no-parse` measures tail + split alone against the same budget.
 *
 *   npx vite-node bench/tail-rotation.ts [--lines 3000000] [--rate 0] [--rotate-ms 250] [--keep 20]
 *       [--kinds rename,copytruncate] [--tailers ours,logdna,node-tail] [--time-limit-s 60] [--no-backlog]
 *       [--no-parse]
 *
 * `--rate N` paces the writer at N lines/s; live lines/s then cannot exceed N and only exactly-once is judged.
 *
 * "live": the tailer runs while the writer writes; lines/s is end to end, so it cannot exceed the writer's
 * rate (shown next to it). "backlog" (ours, rename only; the others have no checkpoint to resume from): the
 * writer runs first, then the follower starts from a checkpoint at offset 0 of the first file and has to
 * walk every rotated file in order: the follower's own capacity across rotation, as after a restart.
 *
 * Measured as the daemon runs: plain node on compiled JS. Started under vite-node, the script bundles itself
 * (from packages/<pkg>/src, as bench/parse.ts does) and runs the bundle with node: vite-node rewrites every
 * module it loads (imports become getters on module objects; measured here: 10-15 % fewer lines/s than
 * the bundle), and it took @secprof/core from dist/, which may be stale.
 *
 * Exit code is 0 whatever the budgets say (they are reported, not asserted) unless our follower loses lines.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import TailFile from "@logdna/tail-file";
import type { ParsedEvent } from "@secprof/core";
import type { Checkpoint } from "../packages/core/src/checkpoint.js";
import { recorderParser } from "../packages/recorder/src/daemon/audit-parse.js";
import { AuditLogFollower } from "../packages/recorder/src/sources/audit-log-follower.js";
import { bundleForNode } from "./lib/measure.js";
import { writeResults } from "./lib/report.js";
import { type BenchRow, benchRow } from "./lib/result.js";

/** Set in the bundled run to the bench directory (the bundle itself lives in a temp directory). */
const BENCH_DIR_ENV = "SECPROF_BENCH_TAIL_DIR";
const BENCH_DIR = process.env[BENCH_DIR_ENV] ?? dirname(fileURLToPath(import.meta.url));

export type RotationKind = "rename" | "copytruncate";
export type TailerName = "ours" | "logdna" | "node-tail";

export interface HarnessOptions {
  tailer: TailerName;
  kind: RotationKind;
  lines: number;
  rotateMs: number;
  /** Rotated files kept (audit.log.1 .. audit.log.N); older ones are deleted, as auditd's num_logs does. */
  keep: number;
  timeLimitMs: number;
  /** Start the tailer only after the writer is done, from a checkpoint at the start of the first file. */
  backlog?: boolean;
  /** Writer's pace in lines/s; 0 or absent: as fast as it can. */
  rate?: number;
  /** Runs once per delivered line, inside the measured time: the parse step plugs in here. */
  onLine?: ((line: string) => void) | undefined;
}

export interface HarnessResult {
  tailer: TailerName;
  kind: RotationKind;
  mode: "live" | "backlog";
  expected: number;
  delivered: number;
  unique: number;
  /** Lines delivered exactly once (not missing, not repeated). */
  once: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
  /** Delivered strings that are not a whole line of ours: split or merged lines. */
  foreign: number;
  linesPerSec: number;
  /**
   * CPU time of the whole process (every thread) per delivered line: on a shared machine it moves less
   * than lines/s. Live runs include the writer thread; backlog runs are the reader alone (and GC).
   */
  cpuUsPerLine: number;
  writerLinesPerSec: number;
  rotations: number;
  seconds: number;
  /** Events the parse step emitted (one per SECCOMP line delivered); undefined without a parse step. */
  events?: number;
}

/**
 * The recorder's parse step: every delivered line goes through the recorder's parser configuration, and the
 * events it emits are counted and dropped (the recorder hands them to attribution).
 */
function parseStep(): { onLine: (line: string) => void; events: () => number } {
  const parser = recorderParser();
  const out: ParsedEvent[] = [];
  let lineNo = 0;
  let events = 0;
  return {
    onLine(line) {
      parser.push(line, ++lineNo, out);
      if (out.length > 0) {
        events += out.length;
        out.length = 0;
      }
    },
    events() {
      parser.flush(out);
      events += out.length;
      out.length = 0;
      return events;
    },
  };
}

/** The tailer side of the harness: started on an existing empty file, stopped when the run ends. */
interface Tailer {
  start(path: string, onLine: (line: string) => void, from?: Checkpoint): Promise<void>;
  stop(): Promise<void>;
}

// Fixed-width prefix and serial field, so the checker finds the serial without parsing the line.
const SERIAL_AT = "type=SECCOMP msg=audit(1700000000.123:".length;
const SERIAL_WIDTH = 10;
const LINE_END = "code=0x7ffc0000";

/**
 * Writer thread (plain JS, run with `eval` so it needs no build step). The kernel's SECCOMP record layout
 * (with `ses=`, which the parser's one-regex path expects: without it every line fell back to the tokenizer); rotation like auditd (close, shift .k to .k+1, rename to .1, open a new file) or logrotate's
 * copytruncate (copy to .1, truncate in place, keep writing through the same O_APPEND descriptor).
 */
const WRITER = `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { path, total, rotateMs, keep, kind, rate } = workerData;
// Paced writes sleep the thread (Atomics.wait) until the line count is due.
const nap = new Int32Array(new SharedArrayBuffer(4));
// Fixed-width digit slots in a template, filled in place: formatting strings per line would cap the writer
// near 1 M lines/s, below the rate the reader has to be measured at.
const template =
  "type=SECCOMP msg=audit(1700000000.MMM:SSSSSSSSSS): auid=4294967295 uid=0 gid=0 ses=4294967295" +
  ' pid=PPPP comm="runc:[2:INIT]" exe="/usr/bin/runc" sig=0 arch=c000003e syscall=YYY' +
  " compat=0 ip=0x7f3a1c2b9d4e ${LINE_END}\\n";
const tpl = Buffer.from(template, "latin1");
const slot = (ch, width) => [template.indexOf(ch.repeat(width)), width];
const slots = [slot("M", 3), slot("S", 10), slot("P", 4), slot("Y", 3)];
const PER_WRITE = 4000;
const buf = Buffer.allocUnsafe(tpl.length * PER_WRITE);
const put = (at, width, v) => {
  for (let i = width - 1; i >= 0; i--, v = Math.floor(v / 10)) buf[at + i] = 48 + (v % 10);
};
const shift = () => {
  fs.rmSync(path + "." + keep, { force: true });
  for (let k = keep - 1; k >= 1; k--) {
    try { fs.renameSync(path + "." + k, path + "." + (k + 1)); } catch (e) { if (e.code !== "ENOENT") throw e; }
  }
};
let fd = fs.openSync(path, "a");
let rotations = 0;
let last = Date.now();
const t0 = process.hrtime.bigint();
for (let n = 1; n <= total; ) {
  const end = Math.min(total, n + PER_WRITE - 1);
  let at = 0;
  for (; n <= end; n++, at += tpl.length) {
    tpl.copy(buf, at);
    const v = [n % 1000, n, 4000 + (n % 900), n % 330];
    for (let i = 0; i < 4; i++) put(at + slots[i][0], slots[i][1], v[i]);
  }
  fs.writeSync(fd, buf, 0, at);
  if (rate > 0) {
    const ahead = ((n - 1) / rate) * 1000 - Number(process.hrtime.bigint() - t0) / 1e6;
    if (ahead > 1) Atomics.wait(nap, 0, 0, ahead);
  }
  if (Date.now() - last >= rotateMs) {
    shift();
    if (kind === "rename") {
      fs.closeSync(fd);
      fs.renameSync(path, path + ".1");
      fd = fs.openSync(path, "a");
    } else {
      fs.copyFileSync(path, path + ".1");
      fs.ftruncateSync(fd, 0);
    }
    rotations++;
    last = Date.now();
  }
}
fs.closeSync(fd);
parentPort.postMessage({ rotations, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
`;

function ours(): Tailer {
  let follower: AuditLogFollower | undefined;
  let loop: Promise<void> = Promise.resolve();
  return {
    async start(path, onLine, from) {
      const f = await AuditLogFollower.open({ path, from, startAt: "start" });
      follower = f;
      loop = (async () => {
        for await (const batch of f) for (const line of batch.lines) onLine(line);
      })();
    },
    async stop() {
      await follower?.close();
      await loop;
    },
  };
}

/** @logdna/tail-file is a byte stream: the same split the follower does (latin1, carry the partial line). */
function logdna(): Tailer {
  let tail: TailFile | undefined;
  return {
    async start(path, onLine) {
      let carry = "";
      const t = new TailFile(path, { startPos: 0, pollFileIntervalMs: 100, maxPollFailures: 1000 });
      t.on("data", (chunk: Buffer) => {
        const parts = (carry + chunk.toString("latin1")).split("\n");
        carry = parts.pop() ?? "";
        for (const p of parts) onLine(p);
      });
      t.on("tail_error", () => undefined);
      t.on("error", () => undefined);
      tail = t;
      await t.start();
    },
    async stop() {
      await tail?.quit();
    },
  };
}

interface NodeTail {
  on(event: "line", listener: (line: string) => void): void;
  on(event: "error", listener: (error: unknown) => void): void;
  unwatch(): void;
}
type NodeTailCtor = new (path: string, options: Record<string, unknown>) => NodeTail;

/** node-tail as the design named it: `new Tail(path, {follow: true, fromBeginning: true})`. */
function nodeTail(): Tailer {
  // Loaded from testkit, which owns the dependency; it ships no types, hence the local interface.
  const require = createRequire(join(BENCH_DIR, "../packages/testkit/package.json"));
  const { Tail } = require("tail") as { Tail: NodeTailCtor };
  let tail: NodeTail | undefined;
  return {
    async start(path, onLine) {
      tail = new Tail(path, { follow: true, fromBeginning: true });
      tail.on("line", onLine);
      tail.on("error", () => undefined);
    },
    async stop() {
      tail?.unwatch();
    },
  };
}

const TAILERS: Record<TailerName, () => Tailer> = { ours, logdna, "node-tail": nodeTail };
const LABEL: Record<TailerName, string> = {
  ours: "ours",
  logdna: "@logdna/tail-file",
  "node-tail": "node-tail",
};

export async function runTailRotation(o: HarnessOptions): Promise<HarnessResult> {
  const dir = await mkdtemp(join(tmpdir(), "secprof-bench-tail-"));
  const path = join(dir, "audit.log");
  await writeFile(path, "");
  const seen = new Uint8Array(o.lines + 1);
  let delivered = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let foreign = 0;
  let prev = 0;
  let lastAt = 0;
  const hook = o.onLine;
  const onLine = (line: string) => {
    delivered++;
    hook?.(line);
    // Serial from its fixed-width field, digit by digit: no allocation, so the check costs little next to
    // the tailer being measured.
    let n = 0;
    for (let i = SERIAL_AT; i < SERIAL_AT + SERIAL_WIDTH; i++) n = n * 10 + line.charCodeAt(i) - 48;
    if (
      !(n >= 1 && n <= o.lines) ||
      line.charCodeAt(SERIAL_AT + SERIAL_WIDTH) !== 41 ||
      !line.endsWith(LINE_END)
    ) {
      foreign++;
      return;
    }
    // Deliveries per line, saturating: 1 is exactly once.
    const c = seen[n] ?? 0;
    if (c > 0) duplicates++;
    if (c < 255) seen[n] = c + 1;
    if (n !== prev + 1) outOfOrder++;
    prev = n;
  };
  // Time of the last delivery, sampled every 5 ms instead of a clock read per line (which cost ~5 %).
  let lastCount = 0;
  const sampler = setInterval(() => {
    if (delivered !== lastCount) {
      lastCount = delivered;
      lastAt = performance.now();
    }
  }, 5);

  const tailer = TAILERS[o.tailer]();
  const first = await stat(path);
  if (!o.backlog) await tailer.start(path, onLine);
  let t0 = performance.now();
  let cpu0 = process.cpuUsage();
  const worker = new Worker(WRITER, {
    eval: true,
    workerData: { path, total: o.lines, rotateMs: o.rotateMs, keep: o.keep, kind: o.kind, rate: o.rate ?? 0 },
  });
  const written = new Promise<{ rotations: number; seconds: number }>((res, rej) => {
    worker.once("message", res);
    worker.once("error", rej);
  });
  let writer: { rotations: number; seconds: number } | undefined;
  void written.then((w) => {
    writer = w;
  });
  if (o.backlog) {
    writer = await written;
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    await tailer.start(path, onLine, { v: 1, dev: first.dev, ino: first.ino, offset: 0, path });
  }
  const deadline = t0 + o.timeLimitMs;
  // Done when every line arrived, or nothing new arrived for 3 s after the writer finished, or time is up.
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const now = performance.now();
    if (delivered >= o.lines && writer !== undefined) break;
    if (writer !== undefined && now - Math.max(lastAt, t0 + writer.seconds * 1000) > 3000) break;
    if (now > deadline) break;
  }
  const cpu = process.cpuUsage(cpu0);
  await tailer.stop();
  clearInterval(sampler);
  await worker.terminate();
  const w = writer ?? (await written.catch(() => ({ rotations: 0, seconds: Number.NaN })));
  await rm(dir, { recursive: true, force: true });

  let unique = 0;
  let once = 0;
  for (let n = 1; n <= o.lines; n++) {
    const c = seen[n] ?? 0;
    if (c > 0) unique++;
    if (c === 1) once++;
  }
  const seconds = ((lastAt || performance.now()) - t0) / 1000;
  return {
    tailer: o.tailer,
    kind: o.kind,
    mode: o.backlog ? "backlog" : "live",
    expected: o.lines,
    delivered,
    unique,
    once,
    duplicates,
    missing: o.lines - unique,
    outOfOrder,
    foreign,
    linesPerSec: delivered / seconds,
    cpuUsPerLine: (cpu.user + cpu.system) / delivered,
    writerLinesPerSec: o.lines / w.seconds,
    rotations: w.rotations,
    seconds,
  };
}

/** Issue 3: tail + split + parse, the recorder's real ingest path (and tail + split alone, `--no-parse`). */
const BUDGET_LINES_PER_S = 1_000_000;

/**
 * The rate budget applies where the reader sets the pace: a backlog, or a writer at full speed. With a
 * paced writer, live lines/s is the writer's rate for a reader that keeps up, and exactly-once is the test.
 */
function rateBudget(r: HarnessResult, rate: number): number | undefined {
  if (r.mode === "live" && rate > 0) return undefined; // backlogs are always written unpaced
  return BUDGET_LINES_PER_S;
}

function exactlyOnce(r: HarnessResult): boolean {
  return r.missing === 0 && r.duplicates === 0 && r.outOfOrder === 0 && r.foreign === 0;
}

/**
 * Headline rows for bench/summary.ts: per rotation kind, ours against node-tail (the tailer the design
 * named) and @logdna/tail-file, on rate and on the share of lines delivered exactly once.
 */
function summaryRows(results: readonly HarnessResult[], parse: boolean, rate: number): BenchRow[] {
  const what = parse ? "tail + parse" : "tail";
  const rows: BenchRow[] = [];
  for (const r of results.filter((x) => x.tailer === "ours")) {
    const others = results.filter((x) => x.kind === r.kind && x.mode === r.mode && x.tailer !== "ours");
    const once = (x: HarnessResult) => (100 * x.once) / x.expected;
    const note = `${fmt(r.missing)} missing, ${fmt(r.duplicates)} dup, ${fmt(r.outOfOrder)} out of order`;
    const mode = r.mode === "backlog" ? ", backlog after restart" : "";
    const budget = rateBudget(r, rate);
    for (const o of others.length > 0 ? others : [undefined]) {
      const vs = o === undefined ? "" : ` vs ${LABEL[o.tailer]}`;
      const alternative = (value: number) =>
        o === undefined ? {} : { alternative: { value, name: LABEL[o.tailer] } };
      rows.push(
        benchRow({
          bench: "tail-rotation",
          name: `${what} lines/s, ${r.kind}${mode}${vs}`,
          ours: r.linesPerSec,
          unit: "lines/s",
          better: "higher",
          ...alternative(o?.linesPerSec ?? Number.NaN),
          ...(budget === undefined ? {} : { budget: { min: budget } }),
          note: `writer ${fmt(r.writerLinesPerSec)} lines/s, ${r.rotations} rotations`,
        }),
        benchRow({
          bench: "tail-rotation",
          name: `lines exactly once, ${r.kind}${mode}${vs}`,
          ours: once(r),
          unit: "%",
          better: "higher",
          ...alternative(o === undefined ? Number.NaN : once(o)),
          budget: { min: 100 },
          note,
        }),
      );
    }
  }
  return rows;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

async function main(): Promise<number> {
  const parse = !process.argv.includes("--no-parse");
  // Unpaced: the reader sets the pace, so lines/s is the capacity the budget is about. A reader more than
  // `keep` rotations behind would lose deleted files by design; at >= 1 M lines/s it is a few behind.
  const rate = Number(arg("rate", "0"));
  const lines = Number(arg("lines", "3000000"));
  const rotateMs = Number(arg("rotate-ms", "250"));
  const keep = Number(arg("keep", "20"));
  const timeLimitMs = Number(arg("time-limit-s", "60")) * 1000;
  const kinds = arg("kinds", "rename,copytruncate").split(",") as RotationKind[];
  const tailers = arg("tailers", "ours,logdna,node-tail").split(",") as TailerName[];
  console.log(
    `tail-rotation: ${fmt(lines)} lines of ~200 B written ${rate > 0 ? `at ${fmt(rate)} lines/s` : "as fast as possible"}, ` +
      `rotation every ${rotateMs} ms (keep ${keep}), ` +
      `${parse ? "tail + split + parse (the recorder's parser configuration)" : "tail + split only (--no-parse)"}, node ${process.version}`,
  );
  const results: HarnessResult[] = [];
  const run = async (o: Omit<HarnessOptions, "lines" | "rotateMs" | "keep" | "timeLimitMs" | "onLine">) => {
    const step = parse ? parseStep() : undefined;
    // The backlog is written at full speed: a paced writer would rotate more than `keep` times before the
    // follower starts, and the deleted files would be lost by design, not by the follower.
    const pace = o.backlog ? 0 : rate;
    const r = await runTailRotation({
      ...o,
      lines,
      rotateMs,
      keep,
      timeLimitMs,
      rate: pace,
      onLine: step?.onLine,
    });
    results.push(step === undefined ? r : { ...r, events: step.events() });
  };
  for (const kind of kinds) {
    for (const tailer of tailers) await run({ tailer, kind });
    // Not after copytruncate: the unread bytes were copied to a new inode that a dev/ino/offset checkpoint
    // cannot name, so a restart across copytruncate loses them by design (see docs/adr/0001).
    if (kind === "rename" && tailers.includes("ours") && !process.argv.includes("--no-backlog")) {
      await run({ tailer: "ours", kind, backlog: true });
    }
  }
  const head = [
    "rotation",
    "mode",
    "tailer",
    "delivered/expected",
    "%",
    "dup",
    "missing",
    "order",
    "foreign",
    "lines/s",
    "vs ours",
    "cpu µs/line",
    "writer lines/s",
    "rotations",
    "events parsed",
  ];
  const rows = results.map((r) => {
    const base = results.find((b) => b.kind === r.kind && b.mode === r.mode && b.tailer === "ours");
    return [
      r.kind,
      r.mode,
      LABEL[r.tailer],
      `${fmt(r.unique)}/${fmt(r.expected)}`,
      ((100 * r.unique) / r.expected).toFixed(1),
      fmt(r.duplicates),
      fmt(r.missing),
      fmt(r.outOfOrder),
      fmt(r.foreign),
      fmt(r.linesPerSec),
      base ? `${(r.linesPerSec / base.linesPerSec).toFixed(2)}x` : "",
      r.cpuUsPerLine.toFixed(3),
      fmt(r.writerLinesPerSec),
      String(r.rotations),
      r.events === undefined ? "–" : fmt(r.events),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  "));

  let lost = false;
  for (const r of results.filter((x) => x.tailer === "ours")) {
    const budget = rateBudget(r, rate);
    const exact = exactlyOnce(r);
    const what = `budget ${r.kind} ${r.mode}:`;
    if (budget !== undefined)
      console.log(
        `${what} >= ${fmt(budget)} lines/s: ${r.linesPerSec >= budget ? "PASS" : "FAIL"} (${fmt(r.linesPerSec)})`,
      );
    console.log(`${what} 100% exactly once, in order: ${exact ? "PASS" : "FAIL"}`);
    if (r.missing > 0 || (r.events !== undefined && r.events !== r.unique)) lost = true;
  }
  writeResults(join(BENCH_DIR, "out"), "tail-rotation", {
    summary: summaryRows(results, parse, rate),
    lines,
    rate,
    rotateMs,
    keep,
    parse,
    results,
  });
  return lost ? 1 : 0;
}

/** Bundles this script and runs it with plain node (see the header); returns its exit code. */
async function runBundled(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "secprof-bench-tail-bundle-"));
  try {
    const bundle = join(dir, "tail-rotation.mjs");
    await bundleForNode(resolve(BENCH_DIR, ".."), fileURLToPath(import.meta.url), bundle);
    const child = spawn(process.execPath, [bundle, ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, [BENCH_DIR_ENV]: BENCH_DIR },
    });
    return await new Promise<number>((res, rej) => {
      child.once("error", rej);
      child.once("exit", (code) => res(code ?? 1));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Runs as a script: under vite-node (which drops the script from argv) it runs its bundle with node.
const entry = process.argv[1] ?? "";
if (/^vite-node(\.mjs)?$/.test(basename(entry))) process.exitCode = await runBundled();
else if (import.meta.url === pathToFileURL(resolve(entry)).href) process.exitCode = await main();
