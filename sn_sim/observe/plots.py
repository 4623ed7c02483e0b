"""Figures of one run's panel, for the policy team.

``run_figures(panel, twin=None)`` returns four matplotlib Figures (for a notebook:
``Results.plot()``); ``write_plots(panel, out_dir, twin=None)`` saves each as PNG and SVG:

crime_trust_treated_vs_control
    Did crime and trust change where the Strategy went in? Offences per 1,000 inhabitants,
    trust in police, 12-month victimisation and insecurity, week by week, for ever-treated vs
    never-treated neighbourhoods. Population-weighted means across neighbourhoods, smoothed with
    a 4-week rolling mean; the line is the mean over replicates and the band spans the 5th-95th
    percentile of replicates (when there are several). Dotted vertical lines mark each cohort's
    launch. With the run's counterfactual twin (the same scenario and seed without the Strategy,
    ``sn-sim evaluate`` saves one in ``twin/``), a third line shows the treated neighbourhoods
    without the Strategy; a plain run records no counterfactual (the never-treated
    neighbourhoods are a comparison group, not one), and the figure says so.
crime_by_cohort
    Offences per 1,000 inhabitants and trust in police by cohort year (one line per year of
    selection, plus the never-treated neighbourhoods), smoothed and averaged over replicates.
stage_timeline
    Replicate 0: each treated neighbourhood (a row, ordered by cohort and launch) coloured by
    its strategy stage week by week, above a stacked area of how many neighbourhoods are in
    each stage.
youth_and_effort
    Youth in gangs per 1,000 youth (treated vs never treated), activities per week by pillar
    summed over all neighbourhoods, and cumulative cost of the strategy.

Level axes start at 0, so a one-point move looks like one. Colours, line styles and markers
come from :mod:`sn_sim.observe.style` (colour-blind safe). The panel is one row per replicate x
neighbourhood x week (see ``Results``). Everything is aggregated with groupby, so a full panel
of many replicates is fast. A run where nothing is treated, or only a few weeks long, still
yields every figure.
"""

from __future__ import annotations

from pathlib import Path

# Figures are matplotlib.figure.Figure objects, never pyplot's: no backend is chosen here (the
# command line runs headless with Agg; a notebook keeps its own and shows the returned Figures).
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sn_sim.observe import outcomes, style

FIGSIZE = (11, 7)
SMOOTH_WEEKS = 4  # weekly counts are noisy at neighbourhood scale; a month shows the trend
COHORT_SMOOTH_WEEKS = 8  # a cohort can be 5 neighbourhoods: smooth more so lines can be told apart
BAND = (0.05, 0.95)  # replicate spread shown around the mean

STAGES = ["none", "planning", "execution", "consolidation", "evaluation"]
STAGE_COLOURS = [style.LIGHT_GREY, style.SKY_BLUE, style.VERMILLION, style.BLUE, style.GREEN]
# The groups of the treated-vs-control figures; "twin" = the treated neighbourhoods in the
# counterfactual run without the Strategy.
GROUPS = {
    "treated": {"label": "treated (ever)", "color": style.BLUE, "linestyle": "-", "marker": None},
    "twin": {"label": "treated, without the Strategy (twin)", "color": style.VERMILLION, "linestyle": "--",
             "marker": None},
    "control": {"label": "never treated", "color": style.GREY, "linestyle": ":", "marker": None},
}
PILLARS = {
    "activities_police": "police",
    "activities_social": "social prevention",
    "activities_community": "community",
    "activities_culture": "culture",
}
FIGURES = ("crime_trust_treated_vs_control", "crime_by_cohort", "stage_timeline", "youth_and_effort")

# The survey-style and crime outcomes plotted (definitions: sn_sim.observe.outcomes).
OUTCOMES = [(name, outcomes.axis_label(name), outcomes.display_factor(name))
            for name in ("offences_per_1000_week", "trust_police", "victimisation_12m", "insecurity")]


def _unit(axis_label: str) -> str:
    """The unit part of an axis label ``Label (unit)``, wrapped for a y-axis."""
    return style.wrap(axis_label.split(" (", 1)[1].rstrip(")"), 32)


def run_figures(panel: pd.DataFrame, twin: pd.DataFrame | None = None,
                names: tuple[str, ...] = FIGURES) -> dict[str, Figure]:
    """The figures ``names`` of a run's ``panel`` (name -> Figure); ``twin`` is the panel of its
    counterfactual twin, if there is one (see the module docstring)."""
    launches = _launch_dates(panel)
    groups = _groups(panel, twin)
    draw = {
        "crime_trust_treated_vs_control": lambda: _plot_treated_vs_control(groups, panel, launches, twin is not None),
        "crime_by_cohort": lambda: _plot_by_cohort(panel, launches),
        "stage_timeline": lambda: _plot_stage_timeline(panel),
        "youth_and_effort": lambda: _plot_youth_and_effort(groups, panel, launches),
    }
    return {name: draw[name]() for name in names}


def write_plots(panel: pd.DataFrame, out_dir: Path, twin: pd.DataFrame | None = None) -> list[Path]:
    """Create ``out_dir`` and save every figure of ``panel`` there as PNG and SVG; return the paths."""
    out_dir = Path(out_dir)
    paths = []
    for name, fig in run_figures(panel, twin).items():
        paths += style.save(fig, out_dir / f"{name}.png")
        fig.clear()  # Figure objects are not tracked by pyplot; clearing frees the artists now
    return paths


# --- aggregation -------------------------------------------------------------------------


def _pooled(panel: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    """Outcomes pooled within ``keys`` groups, as the registry defines them; index = keys."""
    return outcomes.weekly(panel, names, by=keys).set_index(keys)


def _groups(panel: pd.DataFrame, twin: pd.DataFrame | None) -> pd.DataFrame:
    """The panel with a ``group`` column (treated / control), plus, with a twin, the twin's rows
    of the neighbourhoods the run treated (group ``twin``): same replicates, same neighbourhoods."""
    tagged = panel.assign(group=np.where(panel["treated"].to_numpy(dtype=bool), "treated", "control"))
    if twin is None:
        return tagged
    ever = panel.loc[panel["treated"].to_numpy(dtype=bool), ["replicate", "neighbourhood"]].drop_duplicates()
    counter = twin.merge(ever, on=["replicate", "neighbourhood"], how="inner").assign(group="twin")
    return pd.concat([tagged, counter], ignore_index=True)


def _smooth(wide: pd.DataFrame, weeks: int = SMOOTH_WEEKS) -> pd.DataFrame:
    """Rolling mean over weeks (index = date), one series per column."""
    return wide.sort_index().rolling(weeks, min_periods=1).mean()


def _summary(wide: pd.DataFrame) -> pd.DataFrame:
    """Mean and 5-95% band across replicate columns (index = date)."""
    return pd.DataFrame({
        "mean": wide.mean(axis=1),
        "lo": wide.quantile(BAND[0], axis=1),
        "hi": wide.quantile(BAND[1], axis=1),
        "n": wide.notna().sum(axis=1),
    })


def _launch_dates(panel: pd.DataFrame) -> pd.Series:
    """First execution week of each cohort (cohort_year -> date); empty if nothing launched."""
    ex = panel.loc[panel["stage"].astype(str).eq("execution") & panel["cohort_year"].notna(),
                   ["cohort_year", "date"]]
    return ex.groupby("cohort_year", observed=True)["date"].min().sort_index()


def _cohort_labels(panel: pd.DataFrame) -> pd.Series:
    """cohort_year as text, 'never treated' where NA (NA keys would drop out of groupbys)."""
    return panel["cohort_year"].astype("string").fillna("never treated")


# --- drawing helpers ---------------------------------------------------------------------


def _line(ax, s: pd.DataFrame, look: dict, label: str, band: bool) -> None:
    """Mean line plus replicate band; markers when there are too few weeks to draw a line."""
    look = dict(look)
    if len(s) < 3:
        look["marker"] = look.get("marker") or "o"
    elif look.get("marker"):
        look["markevery"] = max(len(s) // 8, 1)  # a few markers tell lines apart without clutter
    ax.plot(s.index, s["mean"], lw=1.8, label=label, **look)
    if band and (s["n"] > 1).any():
        ax.fill_between(s.index, s["lo"], s["hi"], color=look["color"], alpha=0.15, lw=0)


def _group_lines(ax, agg: pd.Series, scale: float, band: bool = True) -> None:
    """One line per group present (treated, twin, control), each replicate smoothed first."""
    # index (replicate, group, date) -> date x (replicate, group), so each replicate's series
    # is smoothed on its own before averaging across replicates
    wide = _smooth(agg.unstack(["replicate", "group"]) * scale)
    present = set(wide.columns.get_level_values("group"))
    for g, look in GROUPS.items():
        if g in present:
            look = {k: v for k, v in look.items() if k != "label"}
            _line(ax, _summary(wide.xs(g, level="group", axis=1)), look, GROUPS[g]["label"], band=band)


def _mark_launches(ax, launches: pd.Series, label: bool = False) -> None:
    """Dotted vertical line at each cohort launch, the year written at the top of the axis."""
    for year, date in launches.items():
        ax.axvline(date, color=style.BLACK, ls=":", lw=0.9, alpha=0.5)
        if label:
            ax.annotate(f"{year}", xy=(date, 1), xycoords=("data", "axes fraction"),
                        xytext=(2, -2), textcoords="offset points", ha="left", va="top",
                        fontsize=8, alpha=0.8)


def _date_axis(ax, dates: pd.Series) -> None:
    """Concise date ticks; a one-week panel gets a two-week window instead of years."""
    first, last = dates.min(), dates.max()
    if pd.notna(first) and first == last:
        ax.set_xlim(first - pd.Timedelta(days=7), last + pd.Timedelta(days=7))
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _band_note(panel: pd.DataFrame) -> str:
    n = panel["replicate"].nunique()
    if n > 1:
        return (f"mean of {n} replicates, band 5–95% of replicates; "
                f"{SMOOTH_WEEKS}-week rolling mean")
    return f"1 replicate; {SMOOTH_WEEKS}-week rolling mean"


def _zero_floor(ax) -> None:
    """Counts and costs start at 0; an all-zero series (no intervention) gets a 0-1 axis."""
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top if top > 0.1 else 1)


def _launch_note(launches: pd.Series) -> str:
    return "; dotted lines = cohort launches" if len(launches) else ""


def _twin_note(has_twin: bool) -> str:
    return ("; twin = the same run without the Strategy (same seed)" if has_twin else
            "; no counterfactual recorded for this run (never treated = comparison group, not a counterfactual)")


# --- the four figures --------------------------------------------------------------------


def _plot_treated_vs_control(groups: pd.DataFrame, panel: pd.DataFrame, launches: pd.Series,
                             has_twin: bool) -> Figure:
    cols = [c for c, _, _ in OUTCOMES]
    agg = _pooled(groups, ["replicate", "group", "date"], cols)
    fig, axes = style.figure(2, 2, FIGSIZE, sharex=True)
    axes = axes.ravel()
    for ax, (col, ylabel, scale) in zip(axes, OUTCOMES):
        _group_lines(ax, agg[col], scale)
        _mark_launches(ax, launches, label=ax is axes[0])
        _zero_floor(ax)
        ax.set_ylabel(_unit(ylabel), fontsize=8)
        ax.set_title(ylabel.split(" (")[0], fontsize=10)
        style.tidy(ax)
        _date_axis(ax, panel["date"])
    for ax in axes[2:]:
        ax.set_xlabel("week (start date)")
    style.legend(axes[0], loc="lower left", fontsize=8)
    style.title(fig, "Did crime, victimisation, insecurity and trust change where the Strategy went in?",
                "population-weighted; " + _band_note(panel) + _launch_note(launches) + _twin_note(has_twin)
                + "; y-axes start at 0")
    return fig


def _plot_by_cohort(panel: pd.DataFrame, launches: pd.Series) -> Figure:
    cols = ["offences_per_1000_week", "trust_police"]
    keyed = panel.assign(cohort=_cohort_labels(panel))
    agg = _pooled(keyed, ["replicate", "cohort", "date"], cols)
    cohorts = sorted(agg.index.get_level_values("cohort").unique(),
                     key=lambda c: (c == "never treated", c))
    years = [c for c in cohorts if c != "never treated"]
    looks = style.series_styles(years)
    looks["never treated"] = {"color": style.GREY, "linestyle": ":", "marker": None}

    fig, axes = style.figure(2, 1, FIGSIZE, sharex=True)
    axes = axes[:, 0]
    for ax, col, ylabel, scale in zip(axes, cols, [OUTCOMES[0][1], OUTCOMES[1][1]], [OUTCOMES[0][2], OUTCOMES[1][2]]):
        wide = _smooth(agg[col].unstack(["replicate", "cohort"]) * scale, COHORT_SMOOTH_WEEKS)
        for c in cohorts:
            s = _summary(wide.xs(c, level="cohort", axis=1))
            label = c if c == "never treated" else f"cohort {c}"
            _line(ax, s, looks[c], label, band=False)  # bands of 5 lines would hide them
        for year, date in launches.items():
            ax.axvline(date, color=looks.get(str(year), {}).get("color", style.BLACK), ls=":", lw=1.2)
        _zero_floor(ax)
        ax.set_ylabel(_unit(ylabel), fontsize=8)
        style.tidy(ax)
        _date_axis(ax, panel["date"])
    axes[-1].set_xlabel("week (start date)")
    axes[0].set_title("Offences per 1,000 inhabitants per week, by cohort year", fontsize=10)
    axes[1].set_title("Trust in police (% of adults), by cohort year", fontsize=10)
    style.legend(axes[0], loc="lower left", fontsize=8, ncols=min(len(cohorts), 3))
    n = panel["replicate"].nunique()
    style.title(fig, "Did each year's cohort of neighbourhoods improve after its launch?",
                f"population-weighted; mean of {n} replicate{'s' if n > 1 else ''}; {COHORT_SMOOTH_WEEKS}-week "
                "rolling mean" + _launch_note(launches).replace("cohort launches", "launches, in the cohort's colour")
                + "; y-axes start at 0")
    return fig


def _plot_stage_timeline(panel: pd.DataFrame) -> Figure:
    rep = panel["replicate"].min()
    p = panel.loc[panel["replicate"] == rep,
                  ["neighbourhood", "neighbourhood_name", "date", "cohort_year", "treated", "stage"]]
    code = pd.Categorical(p["stage"].astype(str), categories=STAGES).codes
    p = p.assign(code=code)
    dates = np.sort(p["date"].unique())
    # cell edges: each week runs from its date to the next (last one lasts 7 days)
    edges = np.append(dates, dates[-1] + np.timedelta64(7, "D")) if len(dates) else dates

    fig, axes = style.figure(2, 1, FIGSIZE, sharex=True, height_ratios=[3, 1])
    ax, ax2 = axes[:, 0]
    cmap = ListedColormap(STAGE_COLOURS)
    norm = BoundaryNorm(np.arange(len(STAGES) + 1) - 0.5, len(STAGES))

    treated = p.loc[p["treated"]]
    if len(treated):
        # order: cohort year, then launch (first non-none week), then id
        started = treated.loc[treated["code"] > 0].groupby("neighbourhood")["date"].min()
        info = treated.groupby("neighbourhood").agg(cohort_year=("cohort_year", "first"),
                                                    name=("neighbourhood_name", "first"))
        info["start"] = started.reindex(info.index)
        info = info.reset_index().sort_values(["cohort_year", "start", "neighbourhood"],
                                              ignore_index=True)
        grid = (treated.pivot_table(index="neighbourhood", columns="date", values="code",
                                    aggfunc="first", observed=True)
                .reindex(index=info["neighbourhood"], columns=dates))
        # rasterised: hundreds of rows x hundreds of weeks would make a huge SVG of cells
        ax.pcolormesh(edges, np.arange(len(info) + 1), grid.to_numpy(dtype=float),
                      cmap=cmap, norm=norm, shading="flat", rasterized=True)
        ax.set_ylim(len(info), 0)  # first cohort at the top
        # name rows only when there are few; otherwise label the cohort blocks
        if len(info) <= 30:
            ax.set_yticks(np.arange(len(info)) + 0.5,
                          [f"{n} ({c})" for n, c in zip(info["name"], info["cohort_year"])],
                          fontsize=7)
        else:
            rows = info.index.to_series().groupby(info["cohort_year"]).agg(["min", "max"])
            ax.set_yticks((rows["min"] + rows["max"] + 1) / 2,
                          [f"cohort {y}\n({n} nbhds)" for y, n in
                           zip(rows.index, rows["max"] - rows["min"] + 1)])
            for b in rows["max"].iloc[:-1] + 1:
                ax.axhline(b, color="white", lw=1.5)
        ax.set_ylabel("treated neighbourhoods")
    else:
        ax.set_yticks([])
        style.note(ax, "no neighbourhood is treated in this run")
    ax.set_title(f"Stage of each treated neighbourhood (replicate {rep})", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=s) for s, c in zip(STAGES, STAGE_COLOURS)],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, title="stage")

    # how many neighbourhoods are in each active stage, all neighbourhoods of the replicate
    counts = (p.loc[p["code"] > 0].groupby(["date", "code"]).size().unstack("code")
              .reindex(index=dates, columns=range(1, len(STAGES)), fill_value=0).fillna(0))
    if len(dates):
        # repeat the last week at its end edge so the areas line up with the cells above
        values = counts.to_numpy()
        ax2.stackplot(edges, np.vstack([values, values[-1:]]).T, colors=STAGE_COLOURS[1:],
                      step="post")
    _zero_floor(ax2)
    ax2.set_ylabel("neighbourhoods")
    ax2.set_xlabel("week (start date)")
    ax2.set_title("Neighbourhoods in each stage (count)", fontsize=10)
    style.tidy(ax2)
    _date_axis(ax2, panel["date"])
    style.title(fig, "Where was each treated neighbourhood in the Strategy's stages, week by week?",
                "planning, execution, consolidation, evaluation; rows ordered by cohort and launch")
    return fig


def _plot_youth_and_effort(groups: pd.DataFrame, panel: pd.DataFrame, launches: pd.Series) -> Figure:
    fig = Figure(figsize=FIGSIZE, dpi=style.DPI, layout="constrained")
    gs = fig.add_gridspec(2, 2)
    ax_y = fig.add_subplot(gs[0, :])
    ax_a = fig.add_subplot(gs[1, 0])
    ax_c = fig.add_subplot(gs[1, 1], sharex=ax_a)

    # gang-involved share of youth = sum(in gangs) / sum(youth), i.e. youth-weighted
    share = _pooled(groups, ["replicate", "group", "date"], ["youth_gang_share"])["youth_gang_share"]
    _group_lines(ax_y, share, 1000)
    _mark_launches(ax_y, launches, label=True)
    _zero_floor(ax_y)
    ax_y.set_ylabel("per 1,000 youth", fontsize=9)
    ax_y.set_title("Youth in gangs per 1,000 youth (" + _band_note(panel) + ")", fontsize=10)
    style.legend(ax_y, loc="lower left", fontsize=8)

    # activities per week by pillar, all neighbourhoods, mean over replicates; a pillar with no
    # activity at all (e.g. culture outside Culture Points districts) is left out
    pillars = [c for c in PILLARS if c in panel.columns]
    act = _smooth(panel.groupby(["replicate", "date"])[pillars].sum().groupby("date").mean())
    looks = style.series_styles(PILLARS.values())
    marker = "o" if len(act) < 3 else None
    drawn = [c for c in pillars if not style.all_zero(act[c])]
    for c in drawn:
        look = {**looks[PILLARS[c]], "marker": marker}
        ax_a.plot(act.index, act[c], label=PILLARS[c], lw=1.5, **look)
    if not drawn:
        style.note(ax_a, "no Strategy activity in this run")
    ax_a.set_ylabel("activities per week", fontsize=9)
    ax_a.set_title(f"Activities by pillar, all neighbourhoods ({SMOOTH_WEEKS}-week rolling mean)", fontsize=10)
    style.legend(ax_a, loc="upper left", fontsize=8)

    # cumulative cost per replicate, then mean over replicates (millions of USD)
    cost_cols = [c for c in ("cost_usd", "cost_in_kind_usd") if c in panel.columns]
    cost = (panel.groupby(["replicate", "date"])[cost_cols].sum()
            .groupby("replicate").cumsum().groupby("date").mean() / 1e6)
    looks = {"cost_usd": ("-", style.BLUE, "strategy spending"),
             "cost_in_kind_usd": ("--", style.ORANGE, "in-kind contributions")}
    drawn = [c for c in cost_cols if not style.all_zero(cost[c])]
    for c in drawn:
        ls, colour, label = looks[c]
        ax_c.plot(cost.index, cost[c], ls=ls, color=colour, lw=1.8, label=label, marker=marker)
    if not drawn:
        style.note(ax_c, "no Strategy cost in this run")
    ax_c.set_ylabel("million USD", fontsize=9)
    ax_c.set_title("Cumulative cost of the Strategy (million USD)", fontsize=10)
    style.legend(ax_c, loc="upper left", fontsize=8)

    for ax in (ax_y, ax_a, ax_c):
        style.tidy(ax)
        _date_axis(ax, panel["date"])
    for ax in (ax_a, ax_c):
        _zero_floor(ax)
        _mark_launches(ax, launches)
        ax.set_xlabel("week (start date)")
    style.title(fig, "How many youth are in gangs, and what effort and money did the Strategy put in?",
                "y-axes start at 0" + _launch_note(launches))
    return fig
