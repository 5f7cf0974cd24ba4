/**
 * The one shape every bench reports its headline numbers in, so that `bench/summary.ts` can put all
 * of them in one table and one chart: a row is one of our numbers, with the alternative measured in
 * the same run (or a published number, marked so), the ratio and the budget.
 */
import { z } from "zod";

/** A budget bound on `ours`, in the row's unit: rates have a minimum, latencies and memory a maximum. */
export const Budget = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .refine((b) => b.min !== undefined || b.max !== undefined, "a budget needs min or max");
export type Budget = z.infer<typeof Budget>;

export const BenchRow = z.object({
  /** The bench that measured it: `parse`, `tail-rotation`, … (the `bench/out/<bench>.json` name). */
  bench: z.string().min(1),
  /** What the row measures, short: "full parse + grouping". */
  name: z.string().min(1),
  /** Our number; null when our side could not run. */
  ours: z.number().nullable(),
  unit: z.string().min(1),
  /** Which way is better for this unit: lines/s up, ns and MB down. */
  better: z.enum(["higher", "lower"]),
  alternative: z.number().nullable().optional(),
  alternativeName: z.string().optional(),
  /**
   * "measured": in the same run, on the same input. "published": a number quoted from a source
   * (named in `note`), shown for context; its ratio is not a measurement.
   */
  alternativeKind: z.enum(["measured", "published"]).optional(),
  /** ours ÷ alternative. */
  ratio: z.number().nullable().optional(),
  budget: Budget.optional(),
  pass: z.boolean().optional(),
  note: z.string().optional(),
});
export type BenchRow = z.infer<typeof BenchRow>;

/** The part of `bench/out/<bench>.json` the summary reads; benches add whatever else they like. */
export const BenchFile = z.object({ bench: z.string(), summary: z.array(BenchRow) });

/** Infinity and NaN do not survive JSON: they become null. */
function finite(x: number | null | undefined): number | null {
  return x === undefined || x === null || !Number.isFinite(x) ? null : x;
}

export interface RowInput {
  bench: string;
  name: string;
  ours: number | null | undefined;
  unit: string;
  better: "higher" | "lower";
  alternative?: { value: number | null | undefined; name: string; kind?: "measured" | "published" };
  budget?: Budget;
  note?: string;
}

/** Builds a row: ratio and budget verdict computed here, once, the same way for every bench. */
export function benchRow(r: RowInput): BenchRow {
  const ours = finite(r.ours);
  const alt = r.alternative === undefined ? undefined : finite(r.alternative.value);
  const row: BenchRow = { bench: r.bench, name: r.name, ours, unit: r.unit, better: r.better };
  if (r.alternative !== undefined) {
    row.alternative = alt ?? null;
    row.alternativeName = r.alternative.name;
    row.alternativeKind = r.alternative.kind ?? "measured";
    // A ratio of values that can be zero or negative (a loss that came out as a gain in a noisy run)
    // says nothing: none then.
    row.ratio = ours !== null && alt !== null && alt !== undefined && ours > 0 && alt > 0 ? ours / alt : null;
  }
  if (r.budget !== undefined) {
    row.budget = r.budget;
    row.pass =
      ours !== null &&
      (r.budget.min === undefined || ours >= r.budget.min) &&
      (r.budget.max === undefined || ours <= r.budget.max);
  }
  if (r.note !== undefined) row.note = r.note;
  return BenchRow.parse(row);
}
