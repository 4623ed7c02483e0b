"""Monte Carlo check of the evaluation laboratory's estimators on synthetic staggered panels.

Draws ``--panels`` panels of ``sn_sim.evaluation.synthetic.heterogeneous_panel`` (80 units, 12
periods, cohorts adopting in periods 3, 5, 7, 9, a quarter never treated, effects growing with
time since adoption and larger in earlier cohorts: the case where TWFE is biased), runs every
overall-ATT estimator of ``sn_sim.evaluation.estimators`` on each, and reports per estimator the
mean estimate, the mean true value of its estimand, bias, RMSE, mean standard error against the
standard deviation of the estimates, and the coverage of its 95 % interval with its Monte Carlo
standard error sqrt(c (1 - c) / panels).

    nice -n 10 python experiments/estimator_coverage.py --panels 500 --out docs/evaluation/coverage.csv

Writes the table as CSV (and prints it as Markdown); ``--draws`` keeps every panel's estimates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.synthetic import heterogeneous_panel


def one_panel(seed: int, alpha: float = 0.05) -> pd.DataFrame:
    df = heterogeneous_panel(seed)
    units = df.drop_duplicates("unit").assign(is_control=lambda d: d["cohort"].isna())
    matches = est.match_controls(units, unit="unit", cohort="cohort", score="score", method="ministry")
    att, _ = est.estimate_all(df, "y", unit="unit", time="time", cohort="cohort", truth="tau", matches=matches,
                              leads=3, lags=5, alpha=alpha)
    post = df["cohort"].notna() & (df["time"] >= df["cohort"].fillna(np.inf))
    att = att.assign(seed=seed, true_att=float(df.loc[post, "tau"].mean()))
    att["covers"] = (att["ci_low"] <= att["true_effect"]) & (att["true_effect"] <= att["ci_high"])
    return att


def summarise(draws: pd.DataFrame, panels: int) -> pd.DataFrame:
    rows = []
    for code in est.ESTIMATORS:
        d = draws[draws["estimator"] == code]
        if d.empty:
            continue
        err = d["estimate"] - d["true_effect"]
        c = float(d["covers"].mean())
        rows.append({
            "estimator": code, "name": est.estimator_name(code), "library": est.ESTIMATOR_LIBRARY.get(code, ""),
            "panels": len(d), "skipped": panels - len(d),
            "mean_estimate": float(d["estimate"].mean()), "true_effect": float(d["true_effect"].mean()),
            "true_att": float(d["true_att"].mean()), "bias": float(err.mean()),
            "bias_mcse": float(err.std(ddof=1) / np.sqrt(len(d))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "mean_se": float(d["se"].mean()), "sd_estimate": float(d["estimate"].std(ddof=1)),
            "coverage": c, "coverage_mcse": float(np.sqrt(c * (1 - c) / len(d))),
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| code | estimator | library | true effect | mean estimate | bias (MC SE) | RMSE | mean SE / SD of "
             "estimates | 95 % coverage (MC SE) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for x in table.itertuples(index=False):
        lines.append(f"| `{x.estimator}` | {x.name} | {x.library} | {x.true_effect:.3f} | {x.mean_estimate:.3f} | "
                     f"{x.bias:+.3f} ({x.bias_mcse:.3f}) | {x.rmse:.3f} | {x.mean_se:.3f} / {x.sd_estimate:.3f} | "
                     f"{x.coverage:.3f} ({x.coverage_mcse:.3f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=500, help="synthetic panels (default 500)")
    ap.add_argument("--seed", type=int, default=0, help="first panel seed (panels use seed, seed + 1, ...)")
    ap.add_argument("--out", type=Path, default=Path("docs/evaluation/coverage.csv"), help="summary CSV")
    ap.add_argument("--draws", type=Path, default=None, help="optional CSV of every panel's estimates")
    args = ap.parse_args(argv)
    if args.panels < 2:
        ap.error("--panels must be at least 2")
    start = time.time()
    parts = []
    for k, seed in enumerate(range(args.seed, args.seed + args.panels)):
        parts.append(one_panel(seed))
        if (k + 1) % 50 == 0:
            print(f"{k + 1}/{args.panels} panels, {time.time() - start:.0f} s", file=sys.stderr)
    draws = pd.concat(parts, ignore_index=True)
    table = summarise(draws, args.panels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    if args.draws is not None:
        args.draws.parent.mkdir(parents=True, exist_ok=True)
        draws.to_csv(args.draws, index=False)
    print(markdown(table))
    print(f"\n{args.panels} panels, seeds {args.seed}..{args.seed + args.panels - 1}, {time.time() - start:.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
