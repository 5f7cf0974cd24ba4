/**
 * bench/summary: every bench's headline rows in one table and one chart.
 *
 *   npx vite-node bench/summary.ts [--out bench/out] [--since ISO-DATE] [--no-chart]
 *
 * Reads `<out>/*.json` (one per bench; see bench/lib/result.ts for the row shape and
 * bench/lib/adapters.ts for older shapes), prints the table (bench, row, ours, alternative, ratio,
 * unit, budget, PASS/FAIL), and writes `<out>/summary.md` and `<out>/summary.png` (matplotlib, by
 * bench/lib/chart.py). `--since`: results written before it (an earlier run's, left behind by a
 * bench that failed this time) are marked stale. Exit code 0 unless nothing could be read.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadBenchFile } from "./lib/adapters.js";
import { envInfo, fmtSi, formatTable } from "./lib/report.js";
import type { BenchRow } from "./lib/result.js";

const here = dirname(fileURLToPath(import.meta.url));
/** The benches scripts/bench runs, in its order; a missing result is listed as such. */
const EXPECTED = ["parse", "tail-rotation", "bpf-overhead", "pipeline", "daemon-memory"];

function fmtValue(x: number | null | undefined, unit: string): string {
  if (x === undefined || x === null) return "–";
  // Percentages and small counts read better without SI suffixes.
  if (unit === "%") return x.toFixed(x === 100 || x === 0 ? 0 : 2);
  return fmtSi(x);
}

function fmtRatio(r: number | null | undefined): string {
  if (r === undefined || r === null) return "–";
  return `${r >= 10 ? r.toFixed(1) : r >= 0.01 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

/** The row's ratio, unless a side is zero or negative (rows written by other benches' own code too). */
function meaningfulRatio(r: BenchRow): number | null | undefined {
  return (r.ours ?? 0) > 0 && (r.alternative ?? 0) > 0 ? r.ratio : null;
}

function fmtBudget(row: BenchRow): string {
  if (row.budget === undefined) return "–";
  const parts: string[] = [];
  if (row.budget.min !== undefined) parts.push(`≥ ${fmtValue(row.budget.min, row.unit)}`);
  if (row.budget.max !== undefined) parts.push(`≤ ${fmtValue(row.budget.max, row.unit)}`);
  return parts.join(", ");
}

function verdict(row: BenchRow): string {
  if (row.ours === null) return "NO RUN";
  return row.pass === undefined ? "–" : row.pass ? "PASS" : "FAIL";
}

function alternativeCell(row: BenchRow): string {
  if (row.alternativeName === undefined) return "–";
  const pub = row.alternativeKind === "published" ? ", published" : "";
  return `${fmtValue(row.alternative, row.unit)} (${row.alternativeName}${pub})`;
}

interface Section {
  bench: string;
  rows: BenchRow[];
  status: string;
  /** Written before this run (`--since`): an older run's numbers. */
  stale: boolean;
}

function readSections(out: string, since: Date | undefined): Section[] {
  const files = existsSync(out)
    ? readdirSync(out).filter((f) => f.endsWith(".json") && !f.startsWith("summary"))
    : [];
  const names = [...EXPECTED, ...files.map((f) => f.slice(0, -5)).filter((b) => !EXPECTED.includes(b))];
  return names.map((bench) => {
    const file = join(out, `${bench}.json`);
    if (!existsSync(file))
      return { bench, rows: [], status: "no results (not run, skipped or failed)", stale: false };
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      return { bench, rows: [], status: `unreadable: ${String(e)}`, stale: false };
    }
    const loaded = loadBenchFile(bench, json);
    const stale = since !== undefined && (loaded.date === undefined || new Date(loaded.date) < since);
    const status = [
      loaded.date === undefined ? "undated" : `measured ${loaded.date}`,
      loaded.via === "rows" ? "" : `read via the ${loaded.via} adapter`,
      stale ? "STALE: written before this run" : "",
    ]
      .filter((s) => s !== "")
      .join("; ");
    return { bench, rows: loaded.rows, status, stale };
  });
}

const HEAD = ["bench", "row", "ours", "alternative", "ratio", "unit", "budget", "result"];

function cells(r: BenchRow, stale: boolean): string[] {
  return [
    r.bench,
    r.name,
    fmtValue(r.ours, r.unit),
    alternativeCell(r),
    fmtRatio(meaningfulRatio(r)),
    r.unit,
    fmtBudget(r),
    stale ? `${verdict(r)} (stale)` : verdict(r),
  ];
}

function markdown(sections: readonly Section[], header: string): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const lines = [
    "# Benchmark summary",
    "",
    header,
    "",
    "ratio = ours ÷ alternative. Alternatives are measured in the same run on the same input unless",
    "marked *published* (a quoted number, for context only).",
    "",
    `| ${HEAD.join(" | ")} | note |`,
    `|${HEAD.map(() => "---").join("|")}|---|`,
  ];
  for (const s of sections)
    for (const r of s.rows) lines.push(`| ${[...cells(r, s.stale), r.note ?? ""].map(esc).join(" | ")} |`);
  lines.push("", "## Sources", "");
  for (const s of sections) lines.push(`- \`${s.bench}\`: ${s.status}`);
  return `${lines.join("\n")}\n`;
}

function main(): number {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: join(here, "out") },
      since: { type: "string" },
      "no-chart": { type: "boolean", default: false },
    },
  });
  const out = resolve(values.out);
  const since = values.since === undefined ? undefined : new Date(values.since);
  const sections = readSections(out, since);
  const rows = sections.flatMap((s) => s.rows);
  const env = envInfo();
  const header =
    `${env.date}, commit ${env.commit ?? "?"}${env.dirty ? " (dirty)" : ""}, node ${env.node}, ` +
    `${env.cpus} × ${env.cpu}, ${env.memGiB} GiB, kernel ${env.kernel}`;

  console.log(`\nBenchmark summary (${header})\n`);
  console.log(
    formatTable(
      HEAD,
      sections.flatMap((s) => s.rows.map((r) => cells(r, s.stale))),
    ),
  );
  console.log(
    "\nratio = ours ÷ alternative; 'published' alternatives are quoted numbers, not measured here.",
  );
  for (const s of sections) console.log(`${s.bench}: ${s.status}`);
  for (const r of rows) if (r.note !== undefined) console.log(`note: ${r.bench} / ${r.name}: ${r.note}`);
  const failed = rows.filter((r) => r.pass === false).length;
  const passed = rows.filter((r) => r.pass === true).length;
  console.log(`\nbudgets: ${passed} PASS, ${failed} FAIL (reported, not asserted)`);

  const md = join(out, "summary.md");
  writeFileSync(md, markdown(sections, header));
  writeFileSync(join(out, "summary.json"), `${JSON.stringify({ env, rows }, null, 2)}\n`);
  console.log(`wrote ${md}`);
  if (!values["no-chart"]) {
    const png = join(out, "summary.png");
    // Debian's python3 (python3-matplotlib comes from apt), not a pyenv or venv one earlier on PATH.
    const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const r = spawnSync(python, [join(here, "lib", "chart.py"), join(out, "summary.json"), png, header], {
      encoding: "utf8",
    });
    if (r.status === 0) console.log(`wrote ${png}`);
    else console.log(`chart not written: ${(r.stderr || r.error?.message || "python3 failed").trim()}`);
  }
  return rows.length > 0 ? 0 : 1;
}

process.exitCode = main();
