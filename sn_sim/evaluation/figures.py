"""Figures of an evaluation: the event study and the estimators' ATTs against the truth.

matplotlib loads only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.measures import OUTCOMES

_COLORS = {"event_study_twfe": "#d95f02", "event_study_did2s": "#1b9e77", "event_study_cs": "#7570b3",
           "event_study_sa": "#e6ab02", "twfe": "#d95f02", "did2s": "#1b9e77", "imputation": "#a6761d",
           "cs_notyet": "#7570b3", "cs_never": "#e7298a", "sun_abraham": "#e6ab02", "matched": "#66a61e"}


def plot_event_study(dynamic: pd.DataFrame, path: Path, outcomes: list[str], period: str = "quarter") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    # Recorded crime and true offences first (the quarterly panel), then the survey items.
    ordered = sorted(outcomes, key=lambda o: OUTCOMES[o].source == "survey")
    shown = [o for o in ordered if not dynamic.empty and o in set(dynamic["outcome"])][:6]
    n = max(len(shown), 1)
    ncols = 2 if n > 1 else 1
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 4.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, shown):
        d = dynamic[(dynamic["outcome"] == name) & (dynamic["replicate"] == dynamic["replicate"].min())]
        methods = [m for m in est.EVENT_STUDIES if m in set(d["estimator"])]
        for i, m in enumerate(methods):
            x = d[d["estimator"] == m].sort_values("event_time")
            off = (i - (len(methods) - 1) / 2) * 0.1
            err = np.vstack([x["estimate"] - x["ci_low"], x["ci_high"] - x["estimate"]])
            ax.errorbar(x["event_time"] + off, x["estimate"], yerr=np.nan_to_num(err), fmt="o", ms=3.5, capsize=2,
                        color=_COLORS.get(m, "C0"), label=est.estimator_name(m).replace(" event study", ""))
        truth = d[d["estimator"] == (methods[0] if methods else "")].sort_values("event_time")
        ax.plot(truth["event_time"], truth["true_effect"], "k-", lw=1.6, label="true effect (twin)")
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls=":")
        unit = OUTCOMES[name].unit
        ax.set_title(OUTCOMES[name].label, fontsize=10)
        ax.set_xlabel("survey years since launch" if OUTCOMES[name].source == "survey" else f"{period}s since launch")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if not shown:
        axes.flat[0].text(0.5, 0.5, "no event study could be estimated", ha="center", va="center")
    fig.suptitle("Event study: estimates (95% CI, replicate 0) against the true effect", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_estimator_comparison(effects: pd.DataFrame, path: Path, outcomes: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    att = effects[effects["term"] == "ATT"] if not effects.empty else effects
    shown = [o for o in outcomes if not att.empty and o in set(att["outcome"])]
    n = max(len(shown), 1)
    ncols = 3 if n > 2 else n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 3.6 * nrows), squeeze=False)
    r0 = int(att["replicate"].min()) if not att.empty else 0
    for ax, name in zip(axes.flat, shown):
        d = att[att["outcome"] == name]
        names = [e for e in est.ESTIMATORS if e in set(d["estimator"])]
        for i, e in enumerate(names):
            x = d[d["estimator"] == e]
            first = x[x["replicate"] == r0]
            others = x[x["replicate"] != r0]
            ax.scatter(others["estimate"], np.full(len(others), i), s=8, color="lightgrey", zorder=1)
            if len(first):
                f = first.iloc[0]
                ax.errorbar(f["estimate"], i, xerr=[[f["estimate"] - f["ci_low"]], [f["ci_high"] - f["estimate"]]],
                            fmt="o", color=_COLORS.get(e, "C0"), capsize=3, zorder=3)
                ax.plot(f["true_effect"], i, "kx", ms=7, zorder=4)
        if len(d):
            ax.axvline(d.loc[d["replicate"] == r0, "true_att"].mean(), color="k", ls="--", lw=1)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_yticks(range(len(names)), [est.estimator_name(e) for e in names], fontsize=7)
        ax.set_title(OUTCOMES[name].label, fontsize=9)
        ax.set_xlabel(OUTCOMES[name].unit, fontsize=8)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("Estimated ATT (95% CI) vs truth: x = estimand's true value, dashed = true ATT", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
