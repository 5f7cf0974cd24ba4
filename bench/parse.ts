/**
 * bench/parse: audit-log parsing throughput on one core, against ausearch and laurel.
 *
 *   npx vite-node bench/parse.ts [--lines 1000000] [--seed 1] [--seccomp-share 0.56] [--runs 3]
 *     [--ext-runs 1] [--builtin-templates] [--no-ext] [--no-verify] [--keep] [--out bench/out]
 *
 * Generates (or reuses) a seeded corpus under /tmp/secprof-bench, warms the page cache, then runs
 * every measured thing as a child process pinned to the last CPU:
 *   - ours, read + LineSplitter only: `push` of each decoded chunk (the floor under the full parse and
 *     the events path), and `eachRange` (the floor under the SECCOMP path);
 *   - ours, full parse with grouping (all kinds);
 *   - ours, the SECCOMP path (`SeccompAggregator` folding into a `SyscallTally`: which syscalls per
 *     session and arch, no event objects), the path the SECCOMP budget is for;
 *   - ours, the SECCOMP events path (`kinds: ["syscall"]`: one event object per record);
 *   - `ausearch --raw` and `ausearch -i` on the same file, output to /dev/null;
 *   - laurel fed the file on stdin, writing its JSON to a temp directory.
 * Our parser is bundled from packages/core/src (not dist) into one file for plain node.
 * Budgets are reported, not asserted: the exit code is 0 unless our parser fails.
 */
import { spawn } from "node:child_process";
import { closeSync, createReadStream, mkdirSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  AuditParser,
  LineSplitter,
  type ParsedEvent,
  type ParserStats,
  SeccompAggregator,
  SyscallTally,
} from "@secprof/core";
import { type CorpusInfo, ensureAuditCorpus } from "./lib/audit-corpus.js";
import {
  bundleForNode,
  hasCommand,
  median,
  pinHarness,
  type RunResult,
  runMeasured,
  warmFile,
} from "./lib/measure.js";
import {
  type BudgetCheck,
  checkBudget,
  fmtFixed,
  fmtInt,
  fmtRatio,
  fmtSi,
  formatBudgets,
  formatTable,
  writeResults,
} from "./lib/report.js";
import { type BenchRow, benchRow } from "./lib/result.js";

const BUDGET_FULL_LINES_PER_S = 600_000;
const BUDGET_SECCOMP_LINES_PER_S = 2_500_000;

type OurMode = "split" | "ranges" | "full" | "seccomp" | "events";
const OUR_MODES: readonly OurMode[] = ["split", "ranges", "full", "seccomp", "events"];

/** What a worker prints (one JSON line) after parsing the file. */
interface WorkerReport {
  mode: OurMode;
  lines: number;
  bytes: number;
  events: number;
  /** Read + split + parse, timed inside the worker (wall clock). */
  loopS: number;
  stats: ParserStats | undefined;
  overlong: number;
}

// ---------------------------------------------------------------------------------------------
// Worker: runs inside the pinned child process.

async function worker(mode: OurMode, file: string): Promise<void> {
  const splitter = new LineSplitter();
  const parser =
    mode === "full"
      ? new AuditParser()
      : mode === "events"
        ? new AuditParser({ kinds: ["syscall"] })
        : undefined;
  const tally = new SyscallTally();
  // The tally keys by session: it needs no pids.
  const aggregator = mode === "seccomp" ? new SeccompAggregator(tally.sink, { pid: false }) : undefined;
  const out: ParsedEvent[] = [];
  let lines = 0;
  let bytes = 0;
  let events = 0;
  const onLine =
    parser !== undefined
      ? (line: string) => {
          parser.push(line, ++lines, out);
        }
      : aggregator !== undefined
        ? (line: string) => {
            lines++;
            aggregator.push(line);
          }
        : () => {
            lines++;
          };
  // The SECCOMP path takes each line where it lies in the decoded text, without a string of its own
  // (`LineSplitter.eachRange`); the others take line strings (`push`), as `secprof parse` does.
  const onRange =
    aggregator !== undefined
      ? (text: string, from: number, to: number) => {
          lines++;
          aggregator.pushAt(text, from, to);
        }
      : mode === "ranges"
        ? () => {
            lines++;
          }
        : undefined;
  const t0 = process.hrtime.bigint();
  // The CLI's input path: 1 MiB chunks from a read stream, decoded as latin1, split into lines.
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    bytes += buf.length;
    if (onRange !== undefined) splitter.eachRange(buf, onRange);
    else for (const line of splitter.push(buf.toString("latin1"))) onLine(line);
    events += out.length;
    out.length = 0;
  }
  for (const line of splitter.finish()) onLine(line);
  parser?.flush(out);
  events += out.length;
  const loopS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (aggregator !== undefined) events = aggregator.stats.events.syscall;
  const report: WorkerReport = {
    mode,
    lines,
    bytes,
    events,
    loopS,
    stats: parser?.stats ?? aggregator?.stats,
    overlong: splitter.dropped,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Harness

interface Row {
  tool: string;
  mode: string;
  /** Seconds the throughput is computed from: in-worker loop time for ours, process wall for others. */
  seconds: number | undefined;
  linesPerS: number | undefined;
  mbPerS: number | undefined;
  /** Process wall time, spawn to exit (median run for ours). */
  wallS: number | undefined;
  cpuS: number | undefined;
  maxRssMb: number | undefined;
  events: number | undefined;
  expectedEvents: number | undefined;
  runs: number;
  note: string;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The run whose time is nearest the median. */
function closest<T>(xs: readonly T[], time: (x: T) => number, target: number): T | undefined {
  let best: T | undefined;
  for (const x of xs)
    if (best === undefined || Math.abs(time(x) - target) < Math.abs(time(best) - target)) best = x;
  return best;
}

function cpuOf(r: RunResult): number | undefined {
  return r.userS === undefined || r.sysS === undefined ? undefined : r.userS + r.sysS;
}

function rowOf(
  tool: string,
  mode: string,
  corpus: CorpusInfo,
  r: RunResult,
  seconds: number,
  events: number | undefined,
  expectedEvents: number | undefined,
  runs: number,
  note: string,
): Row {
  return {
    tool,
    mode,
    seconds,
    linesPerS: corpus.lines / seconds,
    mbPerS: corpus.bytes / 1e6 / seconds,
    wallS: r.wallS,
    cpuS: cpuOf(r),
    maxRssMb: r.maxRssKb === undefined ? undefined : r.maxRssKb / 1024,
    events,
    expectedEvents,
    runs,
    note,
  };
}

function failedRow(tool: string, mode: string, note: string): Row {
  return {
    tool,
    mode,
    seconds: undefined,
    linesPerS: undefined,
    mbPerS: undefined,
    wallS: undefined,
    cpuS: undefined,
    maxRssMb: undefined,
    events: undefined,
    expectedEvents: undefined,
    runs: 0,
    note,
  };
}

function describeFailure(r: RunResult): string {
  if (r.timedOut) return "timed out";
  const why = r.stderr.trim().split("\n").slice(-2).join(" / ").slice(0, 160);
  return `exit ${r.code ?? r.signal ?? "?"}${why ? `: ${why}` : ""}`;
}

async function ours(
  bundle: string,
  mode: OurMode,
  corpus: CorpusInfo,
  cpu: number | undefined,
  runs: number,
): Promise<{ row: Row; report: WorkerReport } | { error: string }> {
  const results: { r: RunResult; rep: WorkerReport }[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runMeasured(process.execPath, [bundle, "--worker", mode, corpus.file], {
      cpu,
      stdout: "pipe",
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (r.code !== 0 || !line.startsWith("{")) return { error: describeFailure(r) };
    results.push({ r, rep: JSON.parse(line) as WorkerReport });
  }
  const times = results.map((x) => x.rep.loopS);
  const mid = median(times);
  const pick = closest(results, (x) => x.rep.loopS, mid);
  const spread =
    runs > 1
      ? `median of ${runs}, runs ${fmtFixed(Math.min(...times), 2)}–${fmtFixed(Math.max(...times), 2)} s`
      : "";
  if (pick === undefined) return { error: "no runs" };
  const { r, rep } = pick;
  if (rep.lines !== corpus.lines) return { error: `read ${rep.lines} lines, corpus has ${corpus.lines}` };
  const expected =
    mode === "full"
      ? corpus.expect.full
      : mode === "split" || mode === "ranges"
        ? undefined
        : corpus.expect.seccomp;
  const name = {
    split: "read + LineSplitter only",
    ranges: "read + LineSplitter.eachRange",
    full: "full parse + grouping",
    seccomp: "SECCOMP path (aggregate)",
    events: "SECCOMP events (fast path)",
  }[mode];
  const row = rowOf(
    "secprof",
    name,
    corpus,
    r,
    rep.loopS,
    mode === "split" || mode === "ranges" ? undefined : rep.events,
    expected,
    runs,
    spread,
  );
  return { row, report: rep };
}

async function external(
  tool: string,
  mode: string,
  cmd: string,
  args: string[],
  corpus: CorpusInfo,
  cpu: number | undefined,
  runs: number,
  opts: { stdin?: string; before?: () => void; after?: (r: RunResult) => { events?: number; note?: string } },
): Promise<Row> {
  if (!hasCommand(cmd)) return failedRow(tool, mode, `${cmd} not installed`);
  const done: { r: RunResult; events: number | undefined; note: string }[] = [];
  for (let i = 0; i < runs; i++) {
    opts.before?.();
    const r = await runMeasured(cmd, args, {
      cpu,
      stdout: "ignore",
      ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
      timeoutMs: 30 * 60_000,
    });
    if (r.code !== 0) {
      // ausearch exits 1 when nothing matched; anything else is a failure to report.
      return failedRow(tool, mode, `could not run: ${describeFailure(r)}`);
    }
    const extra = opts.after?.(r) ?? {};
    done.push({ r, events: extra.events, note: extra.note ?? "" });
  }
  const pick = closest(done, (d) => d.r.wallS, median(done.map((d) => d.r.wallS)));
  if (pick === undefined) return failedRow(tool, mode, "no runs");
  return rowOf(tool, mode, corpus, pick.r, pick.r.wallS, pick.events, undefined, runs, pick.note);
}

/** Untimed: runs `ausearch -i` once more into a pipe to count the events and records it printed. */
async function countAusearch(file: string): Promise<{ events: number; records: number } | undefined> {
  return new Promise((resolvePromise) => {
    const child = spawn("ausearch", ["--input", file, "-i"], { stdio: ["ignore", "pipe", "ignore"] });
    let events = 0;
    let records = 0;
    let carry = "";
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (s: string) => {
      const text = carry + s;
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        if (text.startsWith("----", start)) events++;
        else if (text.startsWith("type=", start) || text.startsWith("node=", start)) records++;
        start = nl + 1;
      }
      carry = text.slice(start);
    });
    child.on("error", () => resolvePromise(undefined));
    child.on("close", (code) => resolvePromise(code === 0 ? { events, records } : undefined));
  });
}

function laurelConfig(dir: string): string {
  const cfg = join(dir, "laurel.toml");
  // Enrichment off (it would read /proc of pids that do not exist), JSON to a file in `dir`.
  writeFileSync(
    cfg,
    [
      `directory = "${dir}"`,
      "statusreport-period = 0",
      "[auditlog]",
      'file = "laurel.json"',
      "size = 100000000000",
      "generations = 1",
      "[translate]",
      "universal = false",
      "user-db = false",
      "[enrich]",
      "pid = false",
      "container = false",
      "script = false",
      "execve-env = []",
      "",
    ].join("\n"),
  );
  return cfg;
}

function countLines(file: string): number {
  const fd = openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  let n = 0;
  try {
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      let at = buf.indexOf(10, 0);
      while (at >= 0 && at < got) {
        n++;
        at = buf.indexOf(10, at + 1);
      }
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** The headline rows for bench/summary.ts: each of our two parser modes against each tool. */
function summaryRows(rows: readonly Row[], noExt: boolean): BenchRow[] {
  const find = (tool: string, mode: string) => rows.find((r) => r.tool === tool && r.mode.startsWith(mode));
  const ours = [
    { row: find("secprof", "full"), name: "full parse + grouping", min: BUDGET_FULL_LINES_PER_S },
    { row: find("secprof", "SECCOMP path"), name: "SECCOMP path", min: BUDGET_SECCOMP_LINES_PER_S },
  ];
  const tools = noExt
    ? [undefined]
    : [
        { row: find("laurel", "JSON"), name: "laurel" },
        { row: find("ausearch", "-i"), name: "ausearch -i" },
        { row: find("ausearch", "--raw"), name: "ausearch --raw" },
      ];
  const out: BenchRow[] = [];
  for (const o of ours) {
    const checked = o.row?.events !== undefined && o.row.events === o.row.expectedEvents;
    for (const t of tools) {
      out.push(
        benchRow({
          bench: "parse",
          name: t === undefined ? o.name : `${o.name} vs ${t.name}`,
          ours: o.row?.linesPerS,
          unit: "lines/s",
          better: "higher",
          ...(t === undefined ? {} : { alternative: { value: t.row?.linesPerS, name: t.name } }),
          budget: { min: o.min },
          note: checked
            ? "events = expected"
            : `events ${o.row?.events ?? "–"} ≠ ${o.row?.expectedEvents ?? "–"}`,
        }),
      );
    }
  }
  return out;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      worker: { type: "string" },
      lines: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      "seccomp-share": { type: "string", default: "0.56" },
      dir: { type: "string", default: "/tmp/secprof-bench" },
      runs: { type: "string", default: "3" },
      "ext-runs": { type: "string", default: "1" },
      "builtin-templates": { type: "boolean", default: false },
      "no-ext": { type: "boolean", default: false },
      "no-verify": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      out: { type: "string", default: join(repoRoot, "bench", "out") },
    },
    allowPositionals: true,
  });
  if (values.worker !== undefined) {
    const file = positionals[0];
    const mode = values.worker;
    const known = OUR_MODES.find((m) => m === mode);
    if (file === undefined || known === undefined) {
      throw new Error(`usage: --worker ${OUR_MODES.join("|")} FILE`);
    }
    await worker(known, file);
    return 0;
  }

  const lines = Number(values.lines);
  const runs = Math.max(1, Number(values.runs));
  const extRuns = Math.max(1, Number(values["ext-runs"]));
  const pin = pinHarness();
  console.log(`bench/parse: ${pin.note}`);

  const corpus = ensureAuditCorpus({
    lines,
    seed: Number(values.seed),
    seccompShare: Number(values["seccomp-share"]),
    dir: values.dir,
    fixtureDir: values["builtin-templates"] ? undefined : join(repoRoot, "packages/testkit/fixtures/audit"),
  });
  const fixtureKinds = Object.entries(corpus.templates)
    .filter(([, s]) => s === "fixture")
    .map(([k]) => k);
  const seccompShare = (corpus.recordTypes.SECCOMP ?? 0) / corpus.lines;
  console.log(
    `corpus: ${corpus.file}\n  ${fmtInt(corpus.lines)} lines, ${fmtFixed(corpus.bytes / 1e6, 1)} MB ` +
      `(${Math.round(corpus.bytes / corpus.lines)} B/line), ${fmtInt(corpus.events)} events; ` +
      `SECCOMP ${(seccompShare * 100).toFixed(1)}% of lines, AVC ${fmtInt(corpus.recordTypes.AVC)} ` +
      `(AppArmor ${fmtInt(corpus.eventKinds.apparmor)}), USER_AVC ${fmtInt(corpus.recordTypes.USER_AVC)}` +
      `${corpus.generatedMs > 0 ? "" : " (cached)"}\n  templates from fixtures: ${fixtureKinds.join(" ") || "none"}`,
  );
  const warm = warmFile(corpus.file);
  console.log(
    `page cache warmed: read ${fmtFixed(warm.bytes / 1e6, 0)} MB in ${fmtFixed(warm.seconds, 2)} s`,
  );

  const work = join(values.dir, `run-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const bundle = join(work, "parse-worker.mjs");
  await bundleForNode(repoRoot, fileURLToPath(import.meta.url), bundle);

  const rows: Row[] = [];
  const reports: WorkerReport[] = [];
  let oursFailed = false;
  for (const mode of OUR_MODES) {
    const res = await ours(bundle, mode, corpus, pin.cpu, runs);
    if ("error" in res) {
      oursFailed = true;
      console.error(`secprof ${mode}: ${res.error}`);
      rows.push(failedRow("secprof", mode, res.error));
    } else {
      rows.push(res.row);
      reports.push(res.report);
    }
    const last = rows[rows.length - 1];
    console.log(`  ran secprof ${mode}: ${fmtSi(last?.linesPerS)} lines/s`);
  }

  if (!values["no-ext"]) {
    const ausearchRaw = await external(
      "ausearch",
      "--raw",
      "ausearch",
      ["--input", corpus.file, "--raw"],
      corpus,
      pin.cpu,
      extRuns,
      {},
    );
    rows.push(ausearchRaw);
    console.log(`  ran ausearch --raw: ${fmtSi(ausearchRaw.linesPerS)} lines/s`);
    const ausearchI = await external(
      "ausearch",
      "-i (interpret)",
      "ausearch",
      ["--input", corpus.file, "-i"],
      corpus,
      pin.cpu,
      extRuns,
      {},
    );
    rows.push(ausearchI);
    console.log(`  ran ausearch -i: ${fmtSi(ausearchI.linesPerS)} lines/s`);
    if (!values["no-verify"] && ausearchI.seconds !== undefined) {
      const counted = await countAusearch(corpus.file);
      if (counted !== undefined) {
        for (const row of [ausearchRaw, ausearchI]) {
          row.events = counted.events;
          // ausearch 3.0.9 skips AppArmor-style AVC events as malformed, and prints LOGIN apart
          // from the SYSCALL/PROCTITLE records of its event.
          row.expectedEvents =
            corpus.events - (corpus.eventKinds.apparmor ?? 0) + (corpus.eventKinds.login ?? 0);
          row.note = `${fmtInt(counted.records)} records printed`;
        }
      }
    }

    const laurelDir = join(work, "laurel");
    mkdirSync(laurelDir, { recursive: true });
    const cfg = laurelConfig(laurelDir);
    const laurelOut = join(laurelDir, "laurel.json");
    const laurel = await external(
      "laurel",
      "JSON to file, enrichment off",
      "laurel",
      ["--config", cfg],
      corpus,
      pin.cpu,
      extRuns,
      {
        stdin: corpus.file,
        before: () => rmSync(laurelOut, { force: true }),
        after: () => {
          try {
            return { events: countLines(laurelOut) };
          } catch (e) {
            return { note: `no output: ${String(e)}` };
          }
        },
      },
    );
    laurel.expectedEvents = corpus.events;
    rows.push(laurel);
    console.log(`  ran laurel: ${fmtSi(laurel.linesPerS)} lines/s`);
  }

  // Table
  const full = rows.find((r) => r.tool === "secprof" && r.mode.startsWith("full"));
  const fast = rows.find((r) => r.tool === "secprof" && r.mode.startsWith("SECCOMP path"));
  const isOurs = (r: Row) => r.tool === "secprof";
  const table = formatTable(
    [
      "tool",
      "mode",
      "lines/s",
      "MB/s",
      "time s",
      "proc wall s",
      "cpu s",
      "RSS MB",
      "events",
      "expected",
      "full ÷ it",
      "seccomp ÷ it",
    ],
    rows.map((r) => [
      r.tool,
      r.mode,
      r.linesPerS,
      fmtFixed(r.mbPerS, 0),
      fmtFixed(r.seconds, 2),
      fmtFixed(r.wallS, 2),
      fmtFixed(r.cpuS, 2),
      fmtFixed(r.maxRssMb, 0),
      fmtInt(r.events),
      r.expectedEvents === undefined ? "–" : r.events === r.expectedEvents ? "= ✓" : fmtInt(r.expectedEvents),
      isOurs(r) ? "" : fmtRatio(full?.linesPerS, r.linesPerS),
      isOurs(r) ? "" : fmtRatio(fast?.linesPerS, r.linesPerS),
    ]),
  );
  console.log(`\n${table}`);
  console.log(
    "\ntime s: read+split+parse inside the worker for secprof (node start-up excluded), process wall for the others;" +
      "\nlines/s and MB/s come from it. proc wall s: spawn to exit. cpu s / RSS: /usr/bin/time. All on one core." +
      "\nevents: secprof counts the events it emits (SECCOMP, SELinux AVC, AppArmor, USER_AVC), the SECCOMP path the records" +
      "\nit folds into its per-session syscall sets; ausearch counts all" +
      "\nevents it prints (counted in an extra untimed run); laurel counts its JSON lines.",
  );
  for (const r of rows) if (r.note) console.log(`note: ${r.tool} ${r.mode}: ${r.note}`);
  // A CPU-bound process that got much less CPU than wall time was waiting for its core.
  const contended = rows.filter(
    (r) => r.cpuS !== undefined && r.wallS !== undefined && r.cpuS < 0.9 * r.wallS,
  );
  for (const r of contended)
    console.log(
      `warning: ${r.tool} ${r.mode}: ${fmtFixed(r.cpuS, 2)} s CPU in ${fmtFixed(r.wallS, 2)} s wall: ` +
        "other processes shared its core; rerun on an idle machine",
    );

  const budgets: BudgetCheck[] = [
    checkBudget(
      "full parse (one core)",
      full?.linesPerS ?? Number.NaN,
      { min: BUDGET_FULL_LINES_PER_S },
      "lines/s",
    ),
    checkBudget(
      "SECCOMP path (one core)",
      fast?.linesPerS ?? Number.NaN,
      { min: BUDGET_SECCOMP_LINES_PER_S },
      "lines/s",
    ),
  ];
  console.log(`\n${formatBudgets(budgets)}`);

  const file = writeResults(values.out, "parse", {
    summary: summaryRows(rows, values["no-ext"]),
    corpus,
    pinning: pin.note,
    rows,
    workers: reports,
    budgets,
  });
  console.log(`\nresults: ${file}`);
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  return oursFailed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
