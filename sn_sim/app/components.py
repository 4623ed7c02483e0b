"""Solara components of the app page; each receives the ``AppModel`` that SolaraViz steps.

- ``Summary``: the week, the two mixes actually running, the shared settings, jump buttons and a
  table of the latest plotted values (cells carry ``data-testid`` so a browser test can read them).
- ``TimeSeries``: offences, victimisation, trust, insecurity and gang-involved youth, treated
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
from mesa.visualization.utils import force_update, update_counter  # noqa: E402

from sn_sim.app.model import GROUPS, METRICS, AppModel, stage_counts  # noqa: E402
from sn_sim.geography import block_layer  # noqa: E402
from sn_sim.strategy import STAGES  # noqa: E402

COLOURS = {"A": "#1f77b4", "B": "#ff7f0e"}
STAGE_COLOURS = {"planning": "#c7c7c7", "execution": "#2ca02c", "consolidation": "#17becf", "evaluation": "#9467bd"}
AUTO = "Auto: first treated in mix A"
DPI = 96

# View options (per browser session): they change what is drawn, not the model.
comparison_group = solara.reactive("never")
neighbourhood_choice = solara.reactive(AUTO)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


@solara.component
def _Chart(png: bytes, max_width: int, testid: str):
    with solara.Div(style={"max-width": f"{max_width}px", "width": "100%"}, classes=[f"sn-chart-{testid}"]):
        solara.Image(png, width="100%")


def _fmt(metric: str, value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return METRICS[metric][1].format(value)


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
                solara.Text(f"last week simulated in {1000 * last:.1f} ms (both mixes)",
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
                for key, (title, _) in METRICS.items():
                    with solara.v.Html(tag="tr"):
                        _cell(title)
                        for mix in ("A", "B"):
                            for group in ("treated", "comparison"):
                                _cell(_fmt(key, latest[mix][group][key]), f"value-{mix}-{group}-{key}")
                        diff = latest["A"]["treated"][key] - latest["B"]["treated"][key]
                        text = "—" if not math.isfinite(diff) else METRICS[key][1].format(diff).replace("%", " pt")
                        _cell(text if text == "—" or diff < 0 else "+" + text, f"value-diff-{key}")


# --- time series ----------------------------------------------------------------------------------


def draw_time_series(m: AppModel, group: str) -> bytes:
    series = m.series(group)
    dates = np.array(m.dates(), dtype="datetime64[D]")
    w = max(min(m.week, m.n_weeks), 0)
    fig = Figure(figsize=(10.5, 5.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(2, 3, sharex=True).ravel()
    comp = GROUPS[group]
    for ax, (key, (title, _)) in zip(axes, METRICS.items()):
        for mix in ("B", "A"):
            if mix == "B" and m.twins_identical:
                continue
            for g, style in (("treated", "-"), ("comparison", "--")):
                y = series[mix][g][key]
                if np.isfinite(y).any():
                    ax.plot(dates[:w], y, style, color=COLOURS[mix], lw=1.4 if g == "treated" else 1.1)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        for year, launch in m.launch_dates():
            ax.axvline(np.datetime64(launch, "D"), color="#999", lw=0.7, ls=":")
        ax.set_xlim(dates[0], dates[-1])
    for year, launch in m.launch_dates():
        axes[0].annotate(str(year), (np.datetime64(launch, "D"), 1.0), xycoords=("data", "axes fraction"),
                         fontsize=7, color="#777", ha="left", va="top")
    leg = axes[5]
    leg.axis("off")
    handles = [
        leg.plot([], [], "-", color=COLOURS["A"])[0], leg.plot([], [], "--", color=COLOURS["A"])[0],
    ]
    labels = ["mix A, treated", f"mix A, {comp}"]
    if not m.twins_identical:
        handles += [leg.plot([], [], "-", color=COLOURS["B"])[0], leg.plot([], [], "--", color=COLOURS["B"])[0]]
        labels += ["mix B, treated", f"mix B, {comp}"]
    leg.legend(handles, labels, loc="center", fontsize=9, frameon=False,
               title=("mix B = mix A" if m.twins_identical else None))
    leg.text(0.5, 0.02, "dotted: cohort launches\ntreated = selected so far", transform=leg.transAxes,
             ha="center", va="bottom", fontsize=8, color="#777")
    if w == 0:
        fig.suptitle("Press Step (or +4 weeks) to simulate the first weeks", fontsize=10, color="#777")
    return _png(fig)


@solara.component
def TimeSeries(model: AppModel):
    update_counter.get()
    group = comparison_group.value
    png = solara.use_memo(lambda: draw_time_series(model, group), [model, model.week, group])
    with solara.Card(style={"width": "100%"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("Treated neighbourhoods against", style={"font-weight": "500"})
            solara.ToggleButtonsSingle(value=comparison_group, dense=True,
                                       children=[solara.Button(label, value=key, dense=True) for key, label in GROUPS.items()])
        _Chart(png, 1008, "timeseries")


# --- block map ------------------------------------------------------------------------------------


def resolve_neighbourhood(m: AppModel, choice: str) -> int:
    names = m.geo.names
    if choice in names:
        return names.index(choice)
    st = m.runs["A"].state
    treated = np.flatnonzero(st.cohort_year > 0)
    if treated.size:
        return int(treated[np.argmin(st.launch_week[treated], kind="stable")])
    return int(np.argmax(m.geo.crime_level))


def describe(m: AppModel, h: int, mix: str) -> str:
    st = m.runs[mix].state
    if st.cohort_year[h] > 0:
        return f"mix {mix}: cohort {int(st.cohort_year[h])}, {STAGES[st.stage[h]]}"
    if st.is_control[h]:
        return f"mix {mix}: designated control"
    return f"mix {mix}: not selected"


def draw_block_map(m: AppModel, h: int) -> bytes:
    mixes = ["A"] if m.twins_identical else ["A", "B"]
    geo = m.geo
    fields = {}
    for mix in mixes:
        r = m.runs[mix]
        b = r.blocks
        scale = r.params.population.scale
        fields[mix] = (
            block_layer(b.offences_year / scale, geo, h, "offences_year").data,
            block_layer(b.patrol_hours, geo, h, "patrol_hours").data,
            block_layer(b.space_condition, geo, h, "space_condition").data,
            block_layer(b.recovered, geo, h, "recovered").data,
        )
    vmax_off = max(float(f[0].max()) for f in fields.values()) or 1.0
    vmax_pat = max(float(f[1].max()) for f in fields.values()) or 1.0
    fig = Figure(figsize=(10.5, 1.75 + 1.95 * len(mixes)), dpi=DPI, layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(mixes), 3))
    titles = ("Offences this calendar year", "Patrol hours this week", "Public space condition (R = recovered)")
    for i, mix in enumerate(mixes):
        off, pat, cond, rec = fields[mix]
        ims = (
            axes[i, 0].imshow(off, cmap="Reds", vmin=0, vmax=vmax_off),
            axes[i, 1].imshow(pat, cmap="Blues", vmin=0, vmax=vmax_pat),
            axes[i, 2].imshow(cond, cmap="Greens", vmin=0, vmax=1),
        )
        for rr, cc in zip(*np.nonzero(rec)):
            axes[i, 2].text(cc, rr, "R", ha="center", va="center", fontsize=8, fontweight="bold", color="black")
        totals = (f"{off.sum():,.0f} offences", f"{pat.sum():,.0f} h", f"{int(rec.sum())} recovered")
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            label = "mix A = mix B" if m.twins_identical else f"mix {mix}"
            ax.set_title(f"{titles[j]}\n{label}: {totals[j]}", fontsize=8.5,
                         color=COLOURS[mix] if not m.twins_identical else "black")
            fig.colorbar(ims[j], ax=ax, shrink=0.8)
    return _png(fig)


@solara.component
def BlockMap(model: AppModel):
    update_counter.get()
    m = model
    names = m.geo.names
    choice = neighbourhood_choice.value if neighbourhood_choice.value in names else AUTO
    h = resolve_neighbourhood(m, choice)
    png = solara.use_memo(lambda: draw_block_map(m, h), [m, m.week, h])
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


def draw_stage_timeline(m: AppModel) -> bytes:
    mixes = ["A"] if m.twins_identical else ["A", "B"]
    dates = np.array(m.dates(), dtype="datetime64[D]")
    fig = Figure(figsize=(10.5, 2.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(mixes), sharey=True, squeeze=False)[0]
    stages = STAGES[1:]
    for ax, mix in zip(axes, mixes):
        counts = stage_counts(m.runs[mix])
        w = counts.shape[0]
        if w:
            ax.stackplot(dates[:w], *(counts[:, 1:].T), labels=stages,
                         colors=[STAGE_COLOURS[s] for s in stages])
        ax.set_xlim(dates[0], dates[-1])
        ax.set_ylim(0, max(sum(c.neighbourhoods for c in m.scenarios["A"].strategy.rollout), 1) * 1.05)
        ax.set_title("Neighbourhoods by stage — " + ("mix A = mix B" if m.twins_identical else f"mix {mix}"),
                     fontsize=9, color="black" if m.twins_identical else COLOURS[mix])
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    from matplotlib.patches import Patch

    axes[-1].legend([Patch(color=STAGE_COLOURS[s]) for s in stages], stages, fontsize=8, loc="upper left", frameon=False)
    return _png(fig)


@solara.component
def StageTimeline(model: AppModel):
    update_counter.get()
    m = model
    png = solara.use_memo(lambda: draw_stage_timeline(m), [m, m.week])
    parts = []
    for mix in (["A"] if m.twins_identical else ["A", "B"]):
        st = m.runs[mix].state
        n = np.bincount(st.stage, minlength=5)
        parts.append(f"mix {mix}: " + ", ".join(f"{n[i]} {STAGES[i]}" for i in range(1, 5)))
    with solara.Card(style={"width": "100%"}):
        solara.v.Html(tag="div", attributes={"data-testid": "stages"}, children=["Now — " + " | ".join(parts)])
        _Chart(png, 1008, "stages")
