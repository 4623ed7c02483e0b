"""Effects on trust and insecurity taken apart by mechanism, from the scores' ledger.

Every change a mechanism makes to a person's trust or insecurity score is booked to its source,
and relaxation discounts the bookings as it discounts the scores (world/ledger.py; panel
columns ``*_score`` and ``*_from_*``). Between two runs on common random numbers -- a scenario
and its base (``compare``) or its no-intervention twin (``evaluate``) -- the effect on a mean
score is therefore

    effect(score) = sum over sources of effect(part from source) + rest

where the rest is what the ledger does not follow: deviations carried away when people die or
homicide victims are replaced, clipping at 0 and 1, float32 rounding. Nothing here is
estimated: the parts are measured in the runs and the rest is reported, so a large rest (e.g.
insecurity pushed against 0) shows rather than hides.

What is decomposed is the mean *score* over all residents; the survey shares (``trust_police``,
``insecurity``: the share of adults or residents 15+ at or above a threshold) move with it but are
not additive over sources, so they are not taken apart. Effects are shown in points of a 0-100
score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sn_sim.experiment.paired import markdown_table, t_interval
from sn_sim.observe import outcomes

SCORES = tuple(outcomes.SCORE_SOURCES)
REST, TOTAL = "rest", "total"
REST_LABEL = "Rest: deaths and in-movers, clipping at 0 and 1"
TOTAL_LABEL = "Effect on the mean score"
POINTS = 100.0  # display: points of a 0-100 score


def label(score: str, source: str) -> str:
    return {REST: REST_LABEL, TOTAL: TOTAL_LABEL}.get(source) or outcomes.SOURCE_LABELS[score][source]


def replicate_rows(own: dict[str, float], ref: dict[str, float]) -> list[dict]:
    """One replicate's effects (score units) by source, with the rest and the total, from two
    summaries holding the ledger outcomes (:data:`sn_sim.observe.outcomes.LEDGER_OUTCOMES`)."""
    rows = []
    for score, sources in outcomes.SCORE_SOURCES.items():
        total = own[f"{score}_score"] - ref[f"{score}_score"]
        parts = [own[f"{score}_from_{x}"] - ref[f"{score}_from_{x}"] for x in sources]
        rows += [{"score": score, "source": x, "effect": e} for x, e in zip(sources, parts)]
        rows.append({"score": score, "source": REST, "effect": total - sum(parts)})
        rows.append({"score": score, "source": TOTAL, "effect": total})
    return rows


def summarise(replicates: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean effect and 95% interval across replicates, per ``by`` x score x source (rows of
    :func:`replicate_rows` with a ``replicate`` column and the ``by`` columns)."""
    out = []
    for keys, g in replicates.groupby(by + ["score", "source"], sort=False):
        e, lo, hi = t_interval(g["effect"].to_numpy())
        row = dict(zip(by + ["score", "source"], keys))
        out.append({**row, "label": label(row["score"], row["source"]), "effect": e, "ci_low": lo, "ci_high": hi,
                    "n": int(g["effect"].notna().sum())})
    return pd.DataFrame(out)


def _cell(e: float, lo: float, hi: float) -> str:
    if np.isnan(e):
        return ""
    text = f"{e * POINTS:+.3f}"
    return text if np.isnan(lo) else f"{text} [{lo * POINTS:.3f}, {hi * POINTS:.3f}]"


def wide(table: pd.DataFrame, score: str, column: str) -> pd.DataFrame:
    """Sources (rows) x values of ``column`` (e.g. scenario): 'effect [95% interval]' in points."""
    t = table[table["score"] == score]
    names = list(dict.fromkeys(t[column]))
    rows = []
    for source in list(outcomes.SCORE_SOURCES[score]) + [REST, TOTAL]:
        row = {"source": label(score, source)}
        for name in names:
            r = t[(t[column] == name) & (t["source"] == source)]
            row[str(name)] = _cell(*r[["effect", "ci_low", "ci_high"]].iloc[0]) if len(r) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, column: str, heading: str = "##") -> str:
    """Both scores' decompositions as Markdown tables, one column per value of ``column``."""
    lines = []
    for score in SCORES:
        lines += [f"{heading} {outcomes.SCORE_LABELS[score]}: effect by source", "",
                  markdown_table(wide(table, score, column)), ""]
    return "\n".join(lines)


NOTE = ("Each mechanism's part of the effect on the mean score (all residents of the neighbourhoods, any age), "
        "in points of a 0-100 score, with its 95% interval across replicates: the change each mechanism made to "
        "people's scores that relaxation has not yet taken back, in one run minus the other (common random "
        "numbers). The parts and the rest add up to the effect on the mean score. The survey shares (trust the "
        "police, expect to be a victim) follow the scores but are not additive, so they are not taken apart.")


FIGURE_NOTE = ("each mechanism's part of the effect on the mean score of all residents (blue: down, vermillion: "
               "up), with its 95% interval across replicates; the parts and the rest add up to the effect (hatched)")


def figure(table: pd.DataFrame, column: str, question: str, detail: str):
    """Waterfalls: one row per value of ``column`` (e.g. scenario), trust and insecurity side by
    side; each source's part stacked to the effect on the mean score (hatched)."""
    from sn_sim.observe import style

    names = list(dict.fromkeys(table[column]))
    fig, axes = style.figure(len(names), len(SCORES), (6.2 * len(SCORES), 3.4 * len(names) + 0.9))
    for i, name in enumerate(names):
        for j, score in enumerate(SCORES):
            ax = axes[i, j]
            t = table[(table[column] == name) & (table["score"] == score)].set_index("source")
            parts = list(outcomes.SCORE_SOURCES[score]) + [REST]
            style.waterfall(ax, [label(score, x) for x in parts], t.loc[parts, "effect"] * POINTS,
                            t.loc[parts, "ci_low"] * POINTS, t.loc[parts, "ci_high"] * POINTS,
                            t.loc[TOTAL, "effect"] * POINTS, TOTAL_LABEL)
            ax.set_title(f"{name}: {outcomes.SCORE_LABELS[score].split(' (')[0].lower()}\n"
                         "(points of a 0-100 score)", fontsize=9)
    style.title(fig, question, detail)
    return fig
