"""The police share of a fixed budget, from 0 to 1: a grid sweep and its plot.

    python experiments/sweep_police_share.py                    # -> sweeps/police_share/
    python experiments/sweep_police_share.py --workers 2
    python experiments/sweep_police_share.py --scheduler tcp://HOST:8786   # on a Dask cluster

Runs experiments/sweeps/police_share.toml (11 shares x 3 replicates on common random numbers)
with --resume semantics, so running it again after an interruption finishes the missing runs
only. Then reads the sweep back with `load_sweep` (one row per run) and with DuckDB, and
writes OUT/police_share.png: the change of each outcome against police share 0, paired by
replicate (the points share random numbers), with a 95% band, in the treated neighbourhoods
and in the whole pool.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from sn_sim.experiment import load_sweep, query, run_sweep  # noqa: E402
from sn_sim.observe import outcomes, style  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARE = "strategy.mix.police"
# (outcome, display factor, display unit): titles are the outcome registry's labels.
PANELS = [
    ("offences_per_1000_year", 1, ""),
    ("victimisation_12m", 100, "%"),
    ("trust_police", 100, "%"),
    ("insecurity", 100, "%"),
    ("youth_gang_share", 100, "%"),
    ("total_cost_usd", 1e-6, "USD million"),
]


def paired_change(frame, column):
    """Change against police share 0 in the same replicate (common random numbers make the
    pairing tight): mean and 95% t half-width across replicates, per share."""
    wide = frame.pivot_table(index="replicate", columns=SHARE, values=column)
    diff = wide.sub(wide[wide.columns.min()], axis=0)
    n = diff.count()
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * diff.std(ddof=1) / np.sqrt(n)
    return diff.columns.to_numpy(), diff.mean().to_numpy(), half.fillna(0).to_numpy(), wide.iloc[:, 0].mean()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=HERE / "sweeps" / "police_share.toml")
    ap.add_argument("--out", type=Path, default=Path("sweeps/police_share"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--scheduler", default=None)
    args = ap.parse_args(argv)

    res = run_sweep(args.sweep, args.out, workers=args.workers, scheduler=args.scheduler, resume=True)
    print(f"{res.done} runs now, {res.skipped} before, {res.failed} failed; {res.runs_per_minute:.1f} runs/min")
    runs = load_sweep(args.out)

    fig = Figure(figsize=(13, 7.5), dpi=110)
    axes = fig.subplots(2, 3).ravel()
    for ax, (metric, factor, unit) in zip(axes, PANELS):
        label = outcomes.get(metric).label + (f" ({unit})" if unit else "")
        # the project's colour-blind-safe colours, and a marker and line style per scope
        for scope, colour, fmt in (("treated", style.VERMILLION, "s--"), ("all", style.BLUE, "o-")):
            x, m, h, level = paired_change(runs, f"{metric}_{scope}")
            ax.plot(x, m * factor, fmt, color=colour, ms=3,
                    label=f"{scope} neighbourhoods (at 0: {level * factor:,.1f})")
            ax.fill_between(x, (m - h) * factor, (m + h) * factor, color=colour, alpha=0.2, lw=0)
        style.zero_line(ax)
        ax.set_title(f"{label}: change", fontsize=10)
        ax.set_xlabel("police share of the budget")
        ax.legend(fontsize=7)
    fig.suptitle("Police share of a fixed budget (social : community = 0.35 : 0.25 of the rest): change against "
                 f"share 0, paired by replicate; mean and 95% band over {runs['replicate'].nunique()} replicates",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out / "police_share.png")

    # The same directory through DuckDB: dotted parameter names need double quotes.
    table = query(args.out, f"""
        SELECT "{SHARE}" AS police_share,
               avg(offences_per_1000_year_treated) AS offences_per_1000_year_treated,
               avg(trust_police_treated) AS trust_police_treated,
               count(*) AS runs
        FROM runs GROUP BY 1 ORDER BY 1""")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out}/police_share.png")


if __name__ == "__main__":
    main()
