"""PNG plots of one run's panel, for the policy team.

``write_plots(panel, out_dir)`` writes four figures into ``out_dir``:

crime_trust_treated_vs_control.png
    Offences per 1,000 inhabitants, trust in police, 12-month victimisation and insecurity,
    week by week, for ever-treated vs never-treated neighbourhoods. Population-weighted means
    across neighbourhoods, smoothed with a 4-week rolling mean; the line is the mean over
    replicates and the band spans the 5th-95th percentile of replicates (when there are
    several). Dotted vertical lines mark each cohort's launch.
crime_by_cohort.png
    Offences per 1,000 inhabitants and trust in police by cohort year (one line per year of
    selection, plus the never-treated neighbourhoods), smoothed and averaged over replicates.
stage_timeline.png
    Replicate 0: each treated neighbourhood (a row, ordered by cohort and launch) coloured by
    its strategy stage week by week, above a stacked area of how many neighbourhoods are in
    each stage.
youth_and_effort.png
    Youth in gangs per 1,000 youth (treated vs never treated), activities per week by pillar
    summed over all neighbourhoods, and cumulative cost of the strategy.

The panel is one row per replicate x neighbourhood x week (see ``Results``). Everything is
aggregated with groupby, so a full panel of many replicates is fast. A run where nothing is
treated, or only a few weeks long, still yields every file.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: plots are files, never windows

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sn_sim.observe import outcomes  # noqa: E402

FIGSIZE = (11, 7)
DPI = 110
SMOOTH_WEEKS = 4  # weekly counts are noisy at neighbourhood scale; a month shows the trend
COHORT_SMOOTH_WEEKS = 8  # a cohort can be 5 neighbourhoods: smooth more so lines can be told apart
BAND = (0.05, 0.95)  # replicate spread shown around the mean

STAGES = ["none", "planning", "execution", "consolidation", "evaluation"]
STAGE_COLOURS = ["#e6e6e6", "#fdd49e", "#d7301f", "#3182bd", "#31a354"]
GROUP_COLOURS = {True: "#d7301f", False: "#636363"}
GROUP_LABELS = {True: "treated (ever)", False: "never treated"}
PILLARS = {
    "activities_police": "police",
    "activities_social": "social prevention",
    "activities_community": "community",
    "activities_culture": "culture",
}

# The survey-style and crime outcomes plotted (definitions: sn_sim.observe.outcomes).
OUTCOMES = [(name, outcomes.axis_label(name), outcomes.display_factor(name))
            for name in ("offences_per_1000_week", "trust_police", "victimisation_12m", "insecurity")]


def write_plots(panel: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Create ``out_dir`` and write the four PNG plots of ``panel``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    launches = _launch_dates(panel)
    figures = {
        "crime_trust_treated_vs_control.png": _plot_treated_vs_control(panel, launches),
        "crime_by_cohort.png": _plot_by_cohort(panel, launches),
        "stage_timeline.png": _plot_stage_timeline(panel),
        "youth_and_effort.png": _plot_youth_and_effort(panel, launches),
    }
    paths = []
    for name, fig in figures.items():
        path = out_dir / name
        fig.savefig(path, dpi=DPI)
        fig.clear()  # Figure objects are not tracked by pyplot; clearing frees the artists now
        paths.append(path)
    return paths


# --- aggregation -------------------------------------------------------------------------


def _pooled(panel: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    """Outcomes pooled within ``keys`` groups, as the registry defines them; index = keys."""
    return outcomes.weekly(panel, names, by=keys).set_index(keys)


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


def _line(ax, s: pd.DataFrame, colour: str, label: str, band: bool) -> None:
    """Mean line plus replicate band; markers when there are too few weeks to draw a line."""
    marker = "o" if len(s) < 3 else None
    ax.plot(s.index, s["mean"], color=colour, lw=1.8, label=label, marker=marker)
    if band and (s["n"] > 1).any():
        ax.fill_between(s.index, s["lo"], s["hi"], color=colour, alpha=0.2, lw=0)


def _mark_launches(ax, launches: pd.Series, label: bool = False) -> None:
    """Dotted vertical line at each cohort launch, the year written at the top of the axis."""
    for year, date in launches.items():
        ax.axvline(date, color="black", ls=":", lw=0.9, alpha=0.6)
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


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")


# --- the four figures --------------------------------------------------------------------


def _plot_treated_vs_control(panel: pd.DataFrame, launches: pd.Series) -> Figure:
    cols = [c for c, _, _ in OUTCOMES]
    agg = _pooled(panel, ["replicate", "treated", "date"], cols)
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    groups = [g for g in (True, False) if g in agg.index.get_level_values("treated")]
    for ax, (col, ylabel, scale) in zip(axes, OUTCOMES):
        # index (replicate, treated, date) -> date x (replicate, treated), so each
        # replicate's series is smoothed on its own before averaging across replicates
        wide = _smooth(agg[col].unstack(["replicate", "treated"]) * scale)
        for g in groups:
            _line(ax, _summary(wide.xs(g, level="treated", axis=1)), GROUP_COLOURS[g],
                  GROUP_LABELS[g], band=True)
        _mark_launches(ax, launches, label=ax is axes[0])
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel.split(" (")[0].capitalize(), fontsize=10)
        ax.grid(alpha=0.3)
        _date_axis(ax, panel["date"])
    for ax in axes[2:]:
        ax.set_xlabel("week (start date)")
    axes[0].legend(loc="best", fontsize=9)
    fig.suptitle("Crime, victimisation, insecurity and trust: treated vs never-treated "
                 "neighbourhoods\n(population-weighted; " + _band_note(panel)
                 + _launch_note(launches) + ")", fontsize=11)
    return fig


def _plot_by_cohort(panel: pd.DataFrame, launches: pd.Series) -> Figure:
    cols = ["offences_per_1000_week", "trust_police"]
    keyed = panel.assign(cohort=_cohort_labels(panel))
    agg = _pooled(keyed, ["replicate", "cohort", "date"], cols)
    cohorts = sorted(agg.index.get_level_values("cohort").unique(),
                     key=lambda c: (c == "never treated", c))
    years = [c for c in cohorts if c != "never treated"]
    cmap = matplotlib.colormaps["viridis"]
    colours = {c: cmap(i / max(len(years) - 1, 1) * 0.9) for i, c in enumerate(years)}
    colours["never treated"] = "#636363"

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, col, ylabel, scale in zip(axes, cols, [OUTCOMES[0][1], OUTCOMES[1][1]], [OUTCOMES[0][2], OUTCOMES[1][2]]):
        wide = _smooth(agg[col].unstack(["replicate", "cohort"]) * scale, COHORT_SMOOTH_WEEKS)
        for c in cohorts:
            s = _summary(wide.xs(c, level="cohort", axis=1))
            label = c if c == "never treated" else f"cohort {c}"
            _line(ax, s, colours[c], label, band=False)  # bands of 5 lines would hide them
        for year, date in launches.items():
            ax.axvline(date, color=colours.get(str(year), "black"), ls=":", lw=1.2)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        _date_axis(ax, panel["date"])
    axes[-1].set_xlabel("week (start date)")
    axes[0].set_title("Offences per 1,000 inhabitants by cohort year", fontsize=10)
    axes[1].set_title("Trust in police by cohort year", fontsize=10)
    axes[0].legend(loc="best", fontsize=9, ncols=min(len(cohorts), 3))
    n = panel["replicate"].nunique()
    fig.suptitle("Outcomes by year of selection into the strategy\n(population-weighted; mean "
                 f"of {n} replicate{'s' if n > 1 else ''}; {COHORT_SMOOTH_WEEKS}-week rolling mean"
                 + _launch_note(launches) + ")", fontsize=11)
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

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
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
        ax.pcolormesh(edges, np.arange(len(info) + 1), grid.to_numpy(dtype=float),
                      cmap=cmap, norm=norm, shading="flat")
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
        _no_data(ax, "no neighbourhood is treated in this run")
    ax.set_title(f"Strategy stage of each treated neighbourhood, week by week (replicate {rep})",
                 fontsize=11)
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
    ax2.set_title("Neighbourhoods in each stage", fontsize=10)
    ax2.grid(alpha=0.3)
    _date_axis(ax2, panel["date"])
    return fig


def _plot_youth_and_effort(panel: pd.DataFrame, launches: pd.Series) -> Figure:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    gs = fig.add_gridspec(2, 2)
    ax_y = fig.add_subplot(gs[0, :])
    ax_a = fig.add_subplot(gs[1, 0])
    ax_c = fig.add_subplot(gs[1, 1], sharex=ax_a)

    # gang-involved share of youth = sum(in gangs) / sum(youth), i.e. youth-weighted
    share = _pooled(panel, ["replicate", "treated", "date"], ["youth_gang_share"])["youth_gang_share"]
    wide = _smooth(share.unstack(["replicate", "treated"]) * 1000)
    for g in (True, False):
        if g in wide.columns.get_level_values("treated"):
            _line(ax_y, _summary(wide.xs(g, level="treated", axis=1)), GROUP_COLOURS[g],
                  GROUP_LABELS[g], band=True)
    _mark_launches(ax_y, launches, label=True)
    ax_y.set_ylabel("youth in gangs per 1,000 youth")
    ax_y.set_title("Youth in gangs (" + _band_note(panel) + ")", fontsize=10)
    ax_y.legend(loc="best", fontsize=9)

    # activities per week by pillar, all neighbourhoods, mean over replicates
    pillars = [c for c in PILLARS if c in panel.columns]
    act = panel.groupby(["replicate", "date"])[pillars].sum().groupby("date").mean()
    act = _smooth(act)
    marker = "o" if len(act) < 3 else None
    for c in pillars:
        ax_a.plot(act.index, act[c], label=PILLARS[c], lw=1.5, marker=marker)
    ax_a.set_ylabel("activities per week (all neighbourhoods)")
    ax_a.set_title(f"Activities by pillar ({SMOOTH_WEEKS}-week rolling mean)", fontsize=10)
    ax_a.legend(loc="upper left", fontsize=8)

    # cumulative cost per replicate, then mean over replicates (millions of USD)
    cost_cols = [c for c in ("cost_usd", "cost_in_kind_usd") if c in panel.columns]
    cost = (panel.groupby(["replicate", "date"])[cost_cols].sum()
            .groupby("replicate").cumsum().groupby("date").mean() / 1e6)
    styles = {"cost_usd": ("-", "strategy spending"), "cost_in_kind_usd": ("--", "in-kind contributions")}
    for c in cost_cols:
        ls, label = styles[c]
        ax_c.plot(cost.index, cost[c], ls=ls, color="#08519c", lw=1.8, label=label, marker=marker)
    ax_c.set_ylabel("cumulative cost (million USD)")
    ax_c.set_title("Cumulative cost", fontsize=10)
    ax_c.legend(loc="upper left", fontsize=8)

    for ax in (ax_y, ax_a, ax_c):
        ax.grid(alpha=0.3)
        _date_axis(ax, panel["date"])
    for ax in (ax_a, ax_c):
        _zero_floor(ax)
        _mark_launches(ax, launches)
        ax.set_xlabel("week (start date)")
    fig.suptitle("Youth in gangs and strategy effort", fontsize=11)
    return fig
