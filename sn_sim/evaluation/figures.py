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

BUFFER_CODES = tuple(f"{c}{est.BUFFER_SUFFIX}" for c in est.BUFFERED)
_LOOK |= {f"{c}{est.BUFFER_SUFFIX}": (_LOOK[c][0], "*") for c in est.BUFFERED}


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
        names = [e for e in (*est.ESTIMATORS, *BUFFER_CODES) if e in set(d["estimator"])]
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


# --- design diagnosis ---------------------------------------------------------------------------


def plot_power_curves(table: pd.DataFrame, path: Path) -> list[Path]:
    """Save :func:`power_curve_figure` as PNG and SVG (``path`` with each suffix)."""
    return style.save(power_curve_figure(table), path)


def power_curve_figure(table: pd.DataFrame):
    """Power at 5% of each estimator against the survey size, per outcome (design diagnosis):
    one colour per estimator, one line style per rollout design, error bars 1.96 Monte Carlo
    standard errors. Administrative outcomes do not depend on the survey: horizontal lines."""
    t = table[table["estimator"].isin(est.ESTIMATORS)] if not table.empty else table
    shown = [o for o in OUTCOMES if not t.empty and o in set(t["outcome"])]
    designs = list(dict.fromkeys(t["design"])) if not t.empty else []
    sizes = sorted(int(n) for n in t["survey_n"].dropna().unique()) if not t.empty else []
    n = max(len(shown), 1)
    ncols = 3 if n > 2 else n
    nrows = int(np.ceil(n / ncols))
    fig, axes = style.figure(nrows, ncols, (5.4 * ncols, 3.6 * nrows + 1.4))
    for ax, name in zip(axes.flat, shown):
        d = t[t["outcome"] == name]
        for k, design in enumerate(designs):
            ls = style.LINESTYLES[k % len(style.LINESTYLES)]
            for e in [e for e in est.ESTIMATORS if e in set(d["estimator"])]:
                x = d[(d["design"] == design) & (d["estimator"] == e)]
                if x.empty:
                    continue
                colour, marker = _LOOK.get(e, (style.GREY, "o"))
                label = est.estimator_name(e) + (f" - {design}" if len(designs) > 1 else "")
                if x["survey_n"].isna().all():
                    p, m = float(x["power"].iloc[0]), float(x["power_mcse"].iloc[0])
                    xs = sizes or [1]
                    ax.plot(xs, [p] * len(xs), color=colour, ls=ls, lw=1.2, label=label)
                    if np.isfinite(m) and m > 0:
                        ax.fill_between(xs, max(p - 1.96 * m, 0), min(p + 1.96 * m, 1), color=colour, alpha=0.08,
                                        lw=0)
                else:
                    x = x.sort_values("survey_n")
                    p, m = x["power"].to_numpy(float), 1.96 * x["power_mcse"].fillna(0).to_numpy(float)
                    err = np.vstack([p - np.clip(p - m, 0, 1), np.clip(p + m, 0, 1) - p])  # a share stays in [0, 1]
                    ax.errorbar(x["survey_n"].astype(float), p, yerr=err, color=colour, ls=ls, marker=marker, ms=4,
                                capsize=2, label=label)
        ax.axhline(0.8, color=style.GREY, ls=":", lw=0.9)
        ax.axhline(0.05, color=style.GREY, ls="--", lw=0.7)
        ax.set_ylim(-0.02, 1.02)
        if sizes:
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
        ax.set_title(style.wrap(OUTCOMES[name].label, 48), fontsize=9)
        ax.set_xlabel("survey respondents per neighbourhood and year", fontsize=8)
        ax.set_ylabel("power (share rejecting no effect at 5%)", fontsize=8)
        style.tidy(ax)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if not shown:
        style.note(axes.flat[0], "no estimate could be computed")
    else:
        handles, labels = axes.flat[0].get_legend_handles_labels()  # every panel has the same lines
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7)
    style.title(fig, "Would an evaluation of this rollout detect the Strategy's true effect?",
                "power at 5% across replicate worlds (error bars: 1.96 Monte Carlo standard errors); dotted: 80% "
                "power, dashed: 5% (the false-positive rate when there is no effect); administrative outcomes do not "
                "depend on the survey size (flat lines)" + ("; line style: rollout design" if len(designs) > 1 else ""))
    return fig


def scores_figure(scores_table: pd.DataFrame, run_name: str):
    """Waterfalls of the true ATT on the mean trust and insecurity scores by mechanism
    (twins.true_effects_by_source; drawn by :func:`sn_sim.experiment.scores.figure`)."""
    from sn_sim.experiment import scores

    return scores.figure(scores_table.assign(run=run_name), "run",
                         "Which mechanisms moved trust and insecurity in the treated neighbourhoods?",
                         "true ATT (treated run minus twin, neighbourhood-weeks from launch): " + scores.FIGURE_NOTE)
