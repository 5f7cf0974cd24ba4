/**
 * Reading a `bench/out/<bench>.json` into summary rows. A bench writes its rows under `summary`
 * (the `BenchRow` shape); files written before a bench did so are read by the adapters below, so
 * that the summary covers every bench while they move to that shape.
 */
import { z } from "zod";
import { BenchFile, type BenchRow, benchRow } from "./result.js";

/** `checkBudget()` results (bench/lib/report.ts), as bench/pipeline.ts writes them under `budgets`. */
const BudgetChecks = z.object({
  budgets: z.array(
    z.object({
      name: z.string(),
      value: z.number().nullable(),
      min: z.number().optional(),
      max: z.number().optional(),
      unit: z.string(),
    }),
  ),
});

/**
 * bench/bpf-overhead.ts's table rows (`what`, baseline `base`, `ours` with recording), should it
 * write them as they are printed: the baseline without recording is the alternative.
 */
const BaselineRows = z.object({
  rows: z.array(
    z.object({
      what: z.string(),
      base: z.number().nullable(),
      ours: z.number().nullable(),
      unit: z.string(),
      verdict: z.string().optional(),
    }),
  ),
});

export interface Loaded {
  rows: BenchRow[];
  /** How the file was read: "rows" (the summary shape) or the adapter used. */
  via: "rows" | "budgets" | "baseline rows" | "unrecognized";
  date: string | undefined;
}

const Dated = z.object({ env: z.object({ date: z.string() }).optional() });

export function loadBenchFile(bench: string, json: unknown): Loaded {
  const date = Dated.safeParse(json).data?.env?.date;
  const native = BenchFile.safeParse(json);
  if (native.success) return { rows: native.data.summary, via: "rows", date };

  const checks = BudgetChecks.safeParse(json);
  if (checks.success) {
    const rows = checks.data.budgets.map((b) =>
      benchRow({
        bench,
        name: b.name,
        ours: b.value,
        unit: b.unit,
        better: b.min !== undefined ? "higher" : "lower",
        ...(b.min !== undefined
          ? { budget: { min: b.min } }
          : b.max !== undefined
            ? { budget: { max: b.max } }
            : {}),
        note: "no alternative in this bench's output",
      }),
    );
    return { rows, via: "budgets", date };
  }

  const baseline = BaselineRows.safeParse(json);
  if (baseline.success) {
    const rows = baseline.data.rows.map((r) =>
      benchRow({
        bench,
        name: r.what,
        ours: r.ours,
        unit: r.unit,
        // Recording costs time per syscall (ns) or requests per second (req/s).
        better: r.unit === "ns" ? "lower" : "higher",
        alternative: { value: r.base, name: "no recording" },
        ...(r.verdict === undefined ? {} : { note: r.verdict }),
      }),
    );
    return { rows, via: "baseline rows", date };
  }
  return { rows: [], via: "unrecognized", date };
}
