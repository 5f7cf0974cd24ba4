/** Printing bench results (tables, ratios, budgets) and saving them to bench/out/<name>.json. */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, hostname, release, totalmem } from "node:os";
import { join } from "node:path";

/** 3 significant digits with k/M/G suffix: 612 k, 2.51 M. */
export function fmtSi(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "–";
  const abs = Math.abs(x);
  const [div, suffix] =
    abs >= 1e9 ? [1e9, " G"] : abs >= 1e6 ? [1e6, " M"] : abs >= 1e3 ? [1e3, " k"] : [1, ""];
  const v = x / div;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${suffix}`;
}

export function fmtFixed(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

export function fmtInt(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US");
}

/** ours / theirs as "4.2×" (how many times faster ours is for a rate). */
export function fmtRatio(ours: number | undefined, theirs: number | undefined): string {
  if (ours === undefined || theirs === undefined || !(theirs > 0) || !Number.isFinite(ours)) return "–";
  const r = ours / theirs;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export type Cell = string | number | undefined;

/** A plain-text table: text columns left-aligned, columns whose cells start with a digit right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const width = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => text.every((r) => /^([-+]?[0-9.,]|–|$)/.test(r[i] ?? "")));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(width[i] ?? 0) : c.padEnd(width[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(width.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}

function cellText(c: Cell): string {
  if (c === undefined) return "–";
  return typeof c === "number" ? fmtSi(c) : c;
}

export interface BudgetCheck {
  name: string;
  value: number;
  /** The value must be at least this (rates) … */
  min?: number;
  /** … or at most this (latencies, memory). */
  max?: number;
  unit: string;
  pass: boolean;
}

export function checkBudget(
  name: string,
  value: number,
  limit: { min?: number; max?: number },
  unit: string,
): BudgetCheck {
  const pass =
    Number.isFinite(value) &&
    (limit.min === undefined || value >= limit.min) &&
    (limit.max === undefined || value <= limit.max);
  return { name, value, ...limit, unit, pass };
}

export function formatBudgets(checks: readonly BudgetCheck[]): string {
  return checks
    .map((c) => {
      const bound = c.min !== undefined ? `≥ ${fmtSi(c.min)}` : `≤ ${fmtSi(c.max)}`;
      return `${c.pass ? "PASS" : "FAIL"}  ${c.name}: ${fmtSi(c.value)} ${c.unit} (budget ${bound} ${c.unit})`;
    })
    .join("\n");
}

export interface EnvInfo {
  date: string;
  node: string;
  cpu: string;
  cpus: number;
  memGiB: number;
  kernel: string;
  host: string;
  commit: string | undefined;
  dirty: boolean | undefined;
}

export function envInfo(): EnvInfo {
  const git = (...args: string[]) => {
    const r = spawnSync("git", args, { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const status = git("status", "--porcelain", "--untracked-files=no");
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    host: hostname(),
    commit: git("rev-parse", "--short", "HEAD"),
    dirty: status === undefined ? undefined : status.length > 0,
  };
}

/** Writes `{ bench, env, ...data }` to `<outDir>/<bench>.json`; returns the path. */
export function writeResults(outDir: string, bench: string, data: Record<string, unknown>): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${bench}.json`);
  writeFileSync(file, `${JSON.stringify({ bench, env: envInfo(), ...data }, null, 2)}\n`);
  return file;
}
