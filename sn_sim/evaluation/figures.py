"""Figures of an evaluation: the event study and the estimators' ATTs against the truth.

``event_study_figure`` and ``estimator_comparison_figure`` return matplotlib Figures (for a
notebook: ``Evaluation.plot()``); ``plot_event_study`` and ``plot_estimator_comparison`` save
them as PNG and SVG. Colours and markers come from :mod:`sn_sim.observe.style` (colour-blind
safe). matplotlib loads only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.measures import OUTCOMES
from sn_sim.observe import style

# One colour and marker per estimator (an event study shares its static estimator's look).
_LOOK = {
    "twfe": (style.VERMILLION, "o"), "did2s": (style.GREEN, "s"), "imputation": (style.ORANGE, "^"),
    "cs_notyet": (style.BLUE, "D"), "cs_never": (style.PURPLE, "v"), "sun_abraham": (style.SKY_BLUE, "P"),
    "matched": (style.BLACK, "X"),
}
_LOOK |= {"event_study_twfe": _LOOK["twfe"], "event_study_did2s": _LOOK["did2s"],
          "event_study_cs": _LOOK["cs_notyet"], "event_study_sa": _LOOK["sun_abraham"]}


def plot_event_study(dynamic: pd.DataFrame, path: Path, outcomes: list[str], period: str = "quarter") -> list[Path]:
    """Save :func:`event_study_figure` as PNG and SVG (``path`` with each suffix)."""
    return style.save(event_study_figure(dynamic, outcomes, period), path)


def plot_estimator_comparison(effects: pd.DataFrame, path: Path, outcomes: list[str]) -> list[Path]:
    """Save :func:`estimator_comparison_figure` as PNG and SVG (``path`` with each suffix)."""
    return style.save(estimator_comparison_figure(effects, outcomes), path)


def event_study_figure(dynamic: pd.DataFrame, outcomes: list[str], period: str = "quarter"):
    """Event-study estimates (95% CI, first replicate) of each estimator against the true path."""

    # Recorded crime and true offences first (the quarterly panel), then the survey items.
    ordered = sorted(outcomes, key=lambda o: OUTCOMES[o].source == "survey")
    shown = [o for o in ordered if not dynamic.empty and o in set(dynamic["outcome"])][:6]
    n = max(len(shown), 1)
    ncols = 2 if n > 1 else 1
    nrows = int(np.ceil(n / ncols))
    fig, axes = style.figure(nrows, ncols, (6.5 * ncols, 4.2 * nrows + 0.6))
    for ax, name in zip(axes.flat, shown):
        d = dynamic[(dynamic["outcome"] == name) & (dynamic["replicate"] == dynamic["replicate"].min())]
        methods = [m for m in est.EVENT_STUDIES if m in set(d["estimator"])]
        for i, m in enumerate(methods):
            x = d[d["estimator"] == m].sort_values("event_time")
            off = (i - (len(methods) - 1) / 2) * 0.1
            err = np.vstack([x["estimate"] - x["ci_low"], x["ci_high"] - x["estimate"]])
            colour, marker = _LOOK.get(m, (style.GREY, "o"))
            ax.errorbar(x["event_time"] + off, x["estimate"], yerr=np.nan_to_num(err), fmt=marker, ms=3.5, capsize=2,
                        color=colour, label=est.estimator_name(m).replace(" event study", ""))
        truth = d[d["estimator"] == (methods[0] if methods else "")].sort_values("event_time")
        ax.plot(truth["event_time"], truth["true_effect"], color=style.BLACK, ls="-", lw=1.6,
                label="true effect (counterfactual twin)")
        style.zero_line(ax)
        ax.axvline(-0.5, color=style.GREY, lw=0.8, ls=":")
        unit = OUTCOMES[name].unit
        ax.set_title(OUTCOMES[name].label, fontsize=10)
        ax.set_xlabel("survey years since launch" if OUTCOMES[name].source == "survey" else f"{period}s since launch")
        ax.set_ylabel(f"effect ({unit})", fontsize=8)
        style.tidy(ax)
        style.legend(ax, fontsize=7, loc="best")
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if not shown:
        style.note(axes.flat[0], "no event study could be estimated")
    style.title(fig, "Would an evaluator's event study find the true effect of the Strategy, period by period?",
                "estimates with 95% confidence intervals (first replicate) against the true effect from the "
                "counterfactual twin; 0 = no effect; dotted line: launch")
    return fig


def estimator_comparison_figure(effects: pd.DataFrame, outcomes: list[str]):
    """Every estimator's ATT (95% CI, first replicate; other replicates as grey dots) against the truth."""

    att = effects[effects["term"] == "ATT"] if not effects.empty else effects
    shown = [o for o in outcomes if not att.empty and o in set(att["outcome"])]
    n = max(len(shown), 1)
    ncols = 3 if n > 2 else n
    nrows = int(np.ceil(n / ncols))
    fig, axes = style.figure(nrows, ncols, (5.4 * ncols, 3.6 * nrows + 0.7))
    r0 = int(att["replicate"].min()) if not att.empty else 0
    for ax, name in zip(axes.flat, shown):
        d = att[att["outcome"] == name]
        names = [e for e in est.ESTIMATORS if e in set(d["estimator"])]
        for i, e in enumerate(names):
            x = d[d["estimator"] == e]
            first = x[x["replicate"] == r0]
            others = x[x["replicate"] != r0]
            ax.scatter(others["estimate"], np.full(len(others), i), s=8, color=style.LIGHT_GREY, zorder=1)
            if len(first):
                f = first.iloc[0]
                colour, marker = _LOOK.get(e, (style.GREY, "o"))
                ax.errorbar(f["estimate"], i, xerr=[[f["estimate"] - f["ci_low"]], [f["ci_high"] - f["estimate"]]],
                            fmt=marker, color=colour, capsize=3, zorder=3)
                ax.plot(f["true_effect"], i, color=style.BLACK, marker="x", ls="none", ms=7, zorder=4)
        if len(d):
            ax.axvline(d.loc[d["replicate"] == r0, "true_att"].mean(), color=style.BLACK, ls="--", lw=1)
        ax.axvline(0, color=style.GREY, lw=0.6)
        ax.set_yticks(range(len(names)), [est.estimator_name(e) for e in names], fontsize=7)
        ax.set_title(style.wrap(OUTCOMES[name].label, 48), fontsize=9)
        ax.set_xlabel(style.wrap(f"average effect on the treated ({OUTCOMES[name].unit})", 60), fontsize=8)
        style.tidy(ax)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if not shown:
        style.note(axes.flat[0], "no estimate could be computed")
    style.title(fig, "Which estimators recover the true average effect of the Strategy?",
                "estimated ATT with 95% confidence interval (first replicate; other replicates as grey dots); "
                "x = true value of each estimator's estimand; dashed = true ATT from the counterfactual twin")
    return fig
