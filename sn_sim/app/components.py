"""Solara components of the app page; each receives the ``AppModel`` that SolaraViz steps.

- ``Summary``: the week, the two mixes actually running, the shared settings, jump buttons and a
  table of the latest plotted values (cells carry ``data-testid`` so a browser test can read them).
- ``TimeSeries``: the plotted outcomes of the registry (offences, victimisation, trust,
  insecurity, gang-involved share of youth; titles and units from ``outcomes.OUTCOMES``), treated
  against never-treated (or designated controls), mix A solid/dashed blue, mix B orange.
- ``BlockMap``: the block grid of a chosen neighbourhood -- offences this year, this week's patrol
  hours, public-space condition with recovered blocks marked -- for both mixes.
- ``StageTimeline``: neighbourhoods in planning, execution, consolidation and evaluation per week.

Figures are drawn server-side with Matplotlib (no browser-side chart library to fetch) and only
when the week, the model or a view option changes.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import solara  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, MaxNLocator  # noqa: E402
from mesa.visualization.utils import force_update, update_counter  # noqa: E402

from sn_sim import STAGES, block_layer  # noqa: E402
from sn_sim.app.model import GROUPS, PLOTTED, WINDOW_WEEKS, AppModel, stage_counts  # noqa: E402
from sn_sim.observe import outcomes, style  # noqa: E402

# The project's colour-blind-safe colours (sn_sim.observe.style); stages as in the run plots.
COLOURS = {"A": style.BLUE, "B": style.ORANGE}
STAGE_COLOURS = {"planning": style.SKY_BLUE, "execution": style.VERMILLION, "consolidation": style.BLUE,
                 "evaluation": style.GREEN}
AUTO = "Auto: first treated in mix A"
DPI = 96

# View options (per browser session): they change what is drawn, not the model.
comparison_group = solara.reactive("never")
neighbourhood_choice = solara.reactive(AUTO)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


@solara.component
def _Chart(png: bytes, max_width: int, testid: str):
    with solara.Div(style={"max-width": f"{max_width}px", "width": "100%"}, classes=[f"sn-chart-{testid}"]):
        solara.Image(png, width="100%")


def shown(name: str, value):
    """An outcome's value (a number or an array) as the page shows it: shares in %."""
    return 100 * value if outcomes.get(name).percent else value


def title(name: str) -> str:
    """A plotted outcome's title, from the registry (label, then unit or population)."""
    o = outcomes.get(name)
    if o.percent:
        return f"{o.label}\n(% of {o.population})"
    notes = [o.unit] if o.unit.lower() != o.label.lower() else []
    if o.over_time == "sum" and WINDOW_WEEKS > 1:
        notes.append(f"trailing {WINDOW_WEEKS}-week window")
    return f"{o.label}\n({', '.join(notes)})" if notes else o.label


def _fmt(name: str, value: float, sign: str = "") -> str:
    """One decimal; shares as % (differences of shares in percentage points)."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{shown(name, value):{sign},.1f}"
    if sign and float(text.replace(",", "")) == 0:
        text = text.lstrip("+-")
    if outcomes.get(name).percent:
        text += " pt" if sign else "%"
    return text


def _fmt_diff(name: str, diff: float) -> str:
    """A − B in the outcome's unit (shares in percentage points); no sign on a zero."""
    return _fmt(name, diff, sign="+")


def _cell(text: str, testid: str | None = None, header: bool = False, style: str = ""):
    attrs = {"data-testid": testid} if testid else None
    return solara.v.Html(tag="th" if header else "td", attributes=attrs, children=[text], style_=style)


# --- summary and readout ------------------------------------------------------------------------


@solara.component
def Summary(model: AppModel):
    update_counter.get()
    m = model
    c = m.controls
    a = m.scenarios["A"]
    latest = m.latest(comparison_group.value)
    comp = GROUPS[comparison_group.value]

    def jump(weeks):
        def go():
            m.advance(weeks)
            force_update()
        return go

    with solara.Card(style={"width": "100%"}):
        solara.v.Html(tag="div", attributes={"data-testid": "week"}, style_="font-size: 1.25rem; font-weight: 500",
                      children=[f"Week {m.week} of {m.n_weeks} · {m.date:%d %b %Y}"
                                + (" · calendar over" if m.finished else "")])
        solara.v.Html(tag="div", attributes={"data-testid": "mix-A"}, style_=f"color: {COLOURS['A']}",
                      children=[m.labels["A"] + "  (solid = treated, dashed = " + comp + ")"])
        solara.v.Html(tag="div", attributes={"data-testid": "mix-B"}, style_=f"color: {COLOURS['B']}",
                      children=[m.labels["B"] + ("  — same as mix A" if m.twins_identical else "")])
        cohorts = " / ".join(f"{x.neighbourhoods}" for x in a.strategy.rollout) or "none"
        solara.v.Html(tag="div", attributes={"data-testid": "settings"}, style_="color: #555; font-size: 0.85rem", children=[
            f"{a.name} · both mixes: budget USD {a.budget.usd_per_year / 1e6:.2f} M/year, "
            f"USD {a.budget.usd_per_neighbourhood_year / 1e3:.0f} k per neighbourhood-year, "
            f"hot-zone share {a.police.hot_zone_share:.0%}, community-policing quality {a.police.implementation_quality:.0%}, "
            f"program capacity ×{c['program_capacity']:g}, cohorts {cohorts}, "
            f"scale {a.population.scale:g} agents per inhabitant, seed {m.seed}"])
        with solara.Row(style={"align-items": "center", "margin-top": "6px"}):
            solara.Button("+4 weeks", on_click=jump(4), disabled=m.finished, outlined=True, dense=True)
            solara.Button("+1 year", on_click=jump(52), disabled=m.finished, outlined=True, dense=True)
            solara.Button("Run to end", on_click=jump(m.n_weeks), disabled=m.finished, outlined=True, dense=True)
            if m.step_seconds:
                last = m.step_seconds[-1]
                runs = "one run, A = B" if m.twins_identical else "both mixes"
                solara.Text(f"last week simulated in {1000 * last:.1f} ms ({runs})",
                            style={"color": "#777", "font-size": "0.8rem"})
        with solara.v.SimpleTable(dense=True):
            with solara.v.Html(tag="thead"):
                with solara.v.Html(tag="tr"):
                    _cell(f"Latest plotted value (week {max(m.week - 1, 0)})", header=True)
                    _cell("A treated", header=True, style=f"color: {COLOURS['A']}")
                    _cell(f"A {comp}", header=True, style=f"color: {COLOURS['A']}")
                    _cell("B treated", header=True, style=f"color: {COLOURS['B']}")
                    _cell(f"B {comp}", header=True, style=f"color: {COLOURS['B']}")
                    _cell("A − B, treated", header=True)
            with solara.v.Html(tag="tbody"):
                for key in PLOTTED:
                    with solara.v.Html(tag="tr"):
                        _cell(title(key).replace("\n", " "))
                        for mix in ("A", "B"):
                            for group in ("treated", "comparison"):
                                _cell(_fmt(key, latest[mix][group][key]), f"value-{mix}-{group}-{key}")
                        diff = latest["A"]["treated"][key] - latest["B"]["treated"][key]
                        _cell(_fmt_diff(key, diff), f"value-diff-{key}")


# --- time series ----------------------------------------------------------------------------------


def _years(m: AppModel) -> np.ndarray:
    """Week index -> decimal year (cheaper to draw than dates)."""
    start = m.start
    return start.year + (start.timetuple().tm_yday - 1) / 365.25 + np.arange(m.n_weeks) * 7 / 365.25


def _decimal_year(d) -> float:
    return d.year + (d.timetuple().tm_yday - 1) / 365.25


def _year_axis(ax, x: np.ndarray) -> None:
    ax.set_xlim(x[0], x[-1] + 7 / 365.25)
    ax.set_xticks(np.arange(math.ceil(x[0]), math.floor(x[-1]) + 1))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


class TimeSeriesFigure:
    """The outcome panels of one model and comparison group; redrawn in place each week."""

    def __init__(self, m: AppModel, group: str):
        self.group = group
        self.x = _years(m)
        fig = self.fig = Figure(figsize=(10.5, 5.4), dpi=DPI)
        fig.subplots_adjust(left=0.045, right=0.99, top=0.92, bottom=0.06, wspace=0.2, hspace=0.32)
        axes = self.axes = fig.subplots(2, 3).ravel()
        comp = GROUPS[group]
        mixes = ["A"] if m.twins_identical else ["B", "A"]  # A drawn on top
        launches = [(year, _decimal_year(launch)) for year, launch in m.launch_dates()]
        self.lines = {}
        for ax, key in zip(axes, PLOTTED):
            for mix in mixes:
                for g, dash in (("treated", "-"), ("comparison", "--")):
                    (self.lines[mix, g, key],) = ax.plot([], [], dash, color=COLOURS[mix],
                                                         lw=1.4 if g == "treated" else 1.1)
            ax.set_title(title(key), fontsize=8.5)
            _year_axis(ax, self.x)
            for _, t in launches:
                ax.axvline(t, color="#999", lw=0.7, ls=":")
        for year, t in launches:
            axes[0].text(t, 0.99, f" {year}", transform=axes[0].get_xaxis_transform(), fontsize=7, color="#777",
                         ha="left", va="top")
        leg = axes[5]
        leg.axis("off")
        handles = [Line2D([], [], ls="-", color=COLOURS["A"]), Line2D([], [], ls="--", color=COLOURS["A"])]
        labels = ["mix A, treated", f"mix A, {comp}"]
        if not m.twins_identical:
            handles += [Line2D([], [], ls="-", color=COLOURS["B"]), Line2D([], [], ls="--", color=COLOURS["B"])]
            labels += ["mix B, treated", f"mix B, {comp}"]
        leg.legend(handles, labels, loc="center", fontsize=9, frameon=False,
                   title=("mix B = mix A" if m.twins_identical else None))
        leg.text(0.5, 0.02, "dotted: cohort launches\ntreated = selected so far", transform=leg.transAxes,
                 ha="center", va="bottom", fontsize=8, color="#777")
        self.notice = fig.suptitle("", fontsize=10, color="#777")

    def render(self, m: AppModel) -> bytes:
        series = m.series(self.group)
        w = max(min(m.week, m.n_weeks), 0)
        for (mix, g, key), line in self.lines.items():
            line.set_data(self.x[:w], shown(key, series[mix][g][key]))
        for ax in self.axes[:5]:
            ax.relim()
            ax.autoscale_view(scalex=False)
        self.notice.set_text("Press Step (or +4 weeks) to simulate the first weeks" if w == 0 else "")
        return _png(self.fig)


def draw_time_series(m: AppModel, group: str = "never") -> bytes:
    return TimeSeriesFigure(m, group).render(m)


@solara.component
def TimeSeries(model: AppModel):
    update_counter.get()
    group = comparison_group.value
    figure = solara.use_memo(lambda: TimeSeriesFigure(model, group), [model, group])
    png = solara.use_memo(lambda: figure.render(model), [figure, model.week])
    with solara.Card(style={"width": "100%"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("Treated neighbourhoods against", style={"font-weight": "500"})
            solara.ToggleButtonsSingle(
                value=comparison_group, dense=True,
                children=[solara.Button(label, value=key, dense=True) for key, label in GROUPS.items()])
        _Chart(png, 1008, "timeseries")


# --- block map ------------------------------------------------------------------------------------


def resolve_neighbourhood(m: AppModel, choice: str) -> int:
    names = m.geo.names
    if choice in names:
        return names.index(choice)
    st = m.runs["A"].places
    treated = np.flatnonzero(st.cohort_year > 0)
    if treated.size:
        return int(treated[np.argmin(st.launch_week[treated])])
    return int(np.argmax(m.geo.crime_level))


def describe(m: AppModel, h: int, mix: str) -> str:
    st = m.runs[mix].places
    if st.cohort_year[h] > 0:
        return f"mix {mix}: cohort {int(st.cohort_year[h])}, {STAGES[st.stage[h]]}"
    if st.is_control[h]:
        return f"mix {mix}: designated control"
    return f"mix {mix}: not selected"


class BlockMapFigure:
    """Block maps of one neighbourhood for each running mix; redrawn in place each week."""

    TITLES = ("Offences this calendar year", "Patrol hours this week", "Public space (R = recovered)")

    def __init__(self, m: AppModel, h: int):
        self.h = h
        self.mixes = ["A"] if m.twins_identical else ["A", "B"]
        self.same = m.twins_identical
        rows = len(self.mixes)
        height = 0.45 + 2.05 * rows
        fig = self.fig = Figure(figsize=(10.5, height), dpi=DPI)
        fig.subplots_adjust(left=0.01, right=0.97, top=1 - 0.5 / height, bottom=0.03, wspace=0.22, hspace=0.45)
        axes = self.axes = np.atleast_2d(fig.subplots(rows, 3))
        blank = np.zeros((m.geo.rows, m.geo.cols))
        self.images = {}
        for i, mix in enumerate(self.mixes):
            for j, cmap in enumerate(("Reds", "Blues", "Greens")):
                ax = axes[i, j]
                self.images[mix, j] = ax.imshow(blank, cmap=cmap, vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title("", fontsize=8.5, color="black" if self.same else COLOURS[mix])
        for j in range(3):
            fig.colorbar(self.images[self.mixes[0], j], ax=axes[:, j].tolist(), shrink=0.85, pad=0.02)
        self.marks = []

    def fields(self, m: AppModel, mix: str):
        r, geo, h = m.runs[mix], m.geo, self.h
        b = r.blocks
        return (
            block_layer(b.offences_year / r.spec.population.scale, geo, h, "offences_year").data,
            block_layer(b.patrol_hours, geo, h, "patrol_hours").data,
            block_layer(b.space_condition, geo, h, "space_condition").data,
            block_layer(b.recovered, geo, h, "recovered").data.astype(bool),
        )

    def render(self, m: AppModel) -> bytes:
        fields = {mix: self.fields(m, mix) for mix in self.mixes}
        vmax = (max(float(f[0].max()) for f in fields.values()) or 1.0,
                max(float(f[1].max()) for f in fields.values()) or 1.0, 1.0)
        for mark in self.marks:
            mark.remove()
        self.marks = []
        for i, mix in enumerate(self.mixes):
            off, pat, cond, rec = fields[mix]
            totals = (f"{off.sum():,.0f} offences", f"{pat.sum():,.0f} h", f"{int(rec.sum())} of {rec.size} recovered")
            label = "mix A = mix B" if self.same else f"mix {mix}"
            for j, data in enumerate((off, pat, cond)):
                im = self.images[mix, j]
                im.set_data(data)
                im.set_clim(0, vmax[j])
                self.axes[i, j].set_title(f"{self.TITLES[j]}\n{label}: {totals[j]}")
            for rr, cc in zip(*np.nonzero(rec)):
                self.marks.append(self.axes[i, 2].text(cc, rr, "R", ha="center", va="center", fontsize=8,
                                                       fontweight="bold"))
        return _png(self.fig)


def draw_block_map(m: AppModel, h: int) -> bytes:
    return BlockMapFigure(m, h).render(m)


@solara.component
def BlockMap(model: AppModel):
    update_counter.get()
    m = model
    names = m.geo.names
    choice = neighbourhood_choice.value if neighbourhood_choice.value in names else AUTO
    h = resolve_neighbourhood(m, choice)
    figure = solara.use_memo(lambda: BlockMapFigure(m, h), [m, h])
    png = solara.use_memo(lambda: figure.render(m), [figure, m.week])
    geo = m.geo
    with solara.Card(style={"width": "100%"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Select("Neighbourhood (block map)", values=[AUTO] + list(names), value=choice,
                          on_value=neighbourhood_choice.set, dense=True, style={"max-width": "340px"})
            solara.v.Html(tag="div", attributes={"data-testid": "map-info"}, children=[
                f"{names[h]} — {geo.district_names[geo.district[h]]}, {int(geo.inhabitants[h]):,} inhabitants, "
                f"{geo.rows}×{geo.cols} blocks · " + " · ".join(describe(m, h, x) for x in ("A", "B"))])
        _Chart(png, 1008, "blockmap")


# --- stage timeline -------------------------------------------------------------------------------


class StageFigure:
    """Neighbourhoods by stage over time for each running mix; areas redrawn each week."""

    def __init__(self, m: AppModel):
        self.mixes = ["A"] if m.twins_identical else ["A", "B"]
        self.x = _years(m)
        fig = self.fig = Figure(figsize=(10.5, 2.4), dpi=DPI)
        fig.subplots_adjust(left=0.045, right=0.99, top=0.88, bottom=0.12, wspace=0.08)
        self.axes = fig.subplots(1, len(self.mixes), sharey=True, squeeze=False)[0]
        top = max(sum(c.neighbourhoods for c in m.scenarios[k].strategy.rollout) for k in self.mixes)
        stages = STAGES[1:]
        for ax, mix in zip(self.axes, self.mixes):
            _year_axis(ax, self.x)
            ax.set_ylim(0, max(top, 1) * 1.05)
            ax.set_title("Neighbourhoods by stage — " + ("mix A = mix B" if m.twins_identical else f"mix {mix}"),
                         fontsize=9, color="black" if m.twins_identical else COLOURS[mix])
        self.axes[0].legend([Patch(color=STAGE_COLOURS[s]) for s in stages], stages, fontsize=8,
                            loc="upper left", frameon=False)

    def render(self, m: AppModel) -> bytes:
        stages = STAGES[1:]
        for ax, mix in zip(self.axes, self.mixes):
            for coll in list(ax.collections):
                coll.remove()
            counts = stage_counts(m.runs[mix])
            w = counts.shape[0]
            if w:
                ax.stackplot(self.x[:w], *(counts[:, 1:].T), colors=[STAGE_COLOURS[s] for s in stages])
        return _png(self.fig)


def draw_stage_timeline(m: AppModel) -> bytes:
    return StageFigure(m).render(m)


@solara.component
def StageTimeline(model: AppModel):
    update_counter.get()
    m = model
    figure = solara.use_memo(lambda: StageFigure(m), [m])
    png = solara.use_memo(lambda: figure.render(m), [figure, m.week])
    parts = []
    for mix in (["A"] if m.twins_identical else ["A", "B"]):
        st = m.runs[mix].places
        n = np.bincount(st.stage, minlength=5)
        parts.append(f"mix {mix}: " + ", ".join(f"{n[i]} {STAGES[i]}" for i in range(1, 5)))
    with solara.Card(style={"width": "100%"}):
        solara.v.Html(tag="div", attributes={"data-testid": "stages"}, children=["Now — " + " | ".join(parts)])
        _Chart(png, 1008, "stages")
