"""Chart of bench/out/summary.json (written by bench/summary.ts): python3 chart.py SUMMARY_JSON PNG [TITLE]

Two panels, one bar per summary row, grouped by bench, on log scales so that 1.2x and 40x both read:
  left:  how many times better ours is than the alternative (ratio, inverted where lower is better);
         the line at 1 is parity. Hatched bars are published numbers, not measured in the run.
  right: how many times inside its budget ours is (ours / min, or max / ours); the line at 1 is the
         budget: bars right of it pass, left of it fail.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GOOD = "#2e7d32"
BAD = "#c62828"
NEUTRAL = "#9e9e9e"


def advantage(row):
    r = row.get("ratio")
    if r is None or r <= 0 or (row.get("ours") or 0) <= 0 or (row.get("alternative") or 0) <= 0:
        return None  # no ratio between values that can be zero or negative
    return r if row["better"] == "higher" else 1 / r


def headroom(row):
    ours, budget = row.get("ours"), row.get("budget")
    if ours is None or budget is None or ours <= 0:
        return None  # no factor for zero or negative values (a "loss" that came out as a gain)
    factors = []
    if budget.get("min") is not None and budget["min"] > 0:
        factors.append(ours / budget["min"])
    if budget.get("max") is not None:
        factors.append(budget["max"] / ours)
    factors = [f for f in factors if f > 0]
    return min(factors) if factors else None


def fmt(x):
    if x is None:
        return "–"
    ax = abs(x)
    for div, suf in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if ax >= div:
            v = x / div
            return f"{v:.{0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2}f}{suf}"
    return f"{x:.{0 if ax >= 100 else 1 if ax >= 10 else 2}f}"


def panel(ax, rows, labels, value, text, title, xlabel):
    ys = list(range(len(rows)))
    vals = [value(r) for r in rows]
    finite = [v for v in vals if v is not None and v != float("inf")]
    lo = min(finite + [0.5]) / 2
    hi = max(finite + [2.0]) * 10  # room for the bar labels
    for y, r, v in zip(ys, rows, vals):
        if v is None:
            ax.text(lo * 1.1, y, "n/a", va="center", fontsize=7, color=NEUTRAL)
            continue
        v = min(v, hi / 1.5)
        color = GOOD if v >= 1 else BAD
        hatch = "//" if r.get("alternativeKind") == "published" and value is advantage else None
        ax.barh(y, v - 1, left=1, color=color, alpha=0.75, hatch=hatch, edgecolor="black", linewidth=0.3)
        ax.text(max(v, 1) * 1.08, y, text(r, v), va="center", fontsize=7)
    ax.axvline(1, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(axis="x", which="major", linestyle=":", linewidth=0.5)


def main():
    src, png = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else ""
    with open(src, encoding="utf8") as f:
        rows = json.load(f)["rows"]
    if not rows:
        raise SystemExit("no rows to chart")
    labels = [f"{r['bench']}: {r['name']}" for r in rows]
    # Separators between benches, for reading the long label column.
    fig_h = max(4, 0.26 * len(rows) + 1.8)
    fig, (left, right) = plt.subplots(1, 2, figsize=(17, fig_h), sharey=True)

    def vs_text(r, v):
        alt = r.get("alternativeName", "")
        pub = " (published)" if r.get("alternativeKind") == "published" else ""
        word = "better" if v >= 1 else "worse"
        return f"{v:.2f}× {word} than {alt}{pub}"

    def budget_text(r, v):
        b = r["budget"]
        bound = f"≥ {fmt(b['min'])}" if b.get("min") is not None else f"≤ {fmt(b.get('max'))}"
        return f"{fmt(r['ours'])} {r['unit']} (budget {bound})"

    panel(left, rows, labels, advantage, vs_text, "ours vs the alternative (same run)", "times better (log; 1 = parity)")
    panel(right, rows, labels, headroom, budget_text, "ours vs its budget", "times inside budget (log; 1 = budget)")
    left.invert_yaxis()  # shared y axis: once, so the first row is on top in both panels
    prev = None
    for i, r in enumerate(rows):
        if prev is not None and r["bench"] != prev:
            for ax in (left, right):
                ax.axhline(i - 0.5, color=NEUTRAL, linewidth=0.6)
        prev = r["bench"]
    fig.suptitle(f"secprof benchmarks — {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
