"""The SolaraViz page: ``sn-sim app [SCENARIO]`` serves it; ``solara run sn_sim/app/app.py`` works too.

The scenario, scale, seed and ``--set`` overrides come from environment variables that
``sn-sim app`` sets (``SN_SIM_APP_SCENARIO``, ``SN_SIM_APP_SCALE``, ``SN_SIM_APP_SEED``,
``SN_SIM_APP_OVERRIDES`` as a JSON list); without them the page opens the packaged national
rollout at ``DEFAULT_SCALE``.

Mesa's SolaraViz supplies the sidebar (Reset / Play / Step, play and render intervals) and turns
``MODEL_PARAMS`` into controls; moved controls take effect on **Reset**, which re-creates
``AppModel`` with them. Two small adaptations of Mesa's page are made here (see ``_adapt_mesa``):
components are stacked at full width instead of two half-width columns, and every control shows
its current value next to its label (Mesa's sliders only show it while dragged).
"""

from __future__ import annotations

import json
import os

import solara
import mesa.visualization.solara_viz as solara_viz
from mesa.visualization import SolaraViz
from mesa.visualization.user_param import Slider

from sn_sim.app.components import BlockMap, StageTimeline, Summary, TimeSeries
from sn_sim.app.model import COMPARISONS, DEFAULT_SCALE, SCALE_CHOICES, control_defaults, load_base
from sn_sim.scenario import Scenario

ENV_SCENARIO = "SN_SIM_APP_SCENARIO"
ENV_SCALE = "SN_SIM_APP_SCALE"
ENV_SEED = "SN_SIM_APP_SEED"
ENV_OVERRIDES = "SN_SIM_APP_OVERRIDES"

# Components top to bottom, with their height in grid rows (a row is 30 px plus a 10 px gap).
COMPONENTS = [(Summary, 0), (TimeSeries, 0), (BlockMap, 0), (StageTimeline, 0)]
HEIGHTS = [10, 16, 14, 8]


def settings_from_env() -> dict:
    scenario = os.environ.get(ENV_SCENARIO) or None
    scale = float(os.environ.get(ENV_SCALE) or DEFAULT_SCALE)
    seed = int(os.environ.get(ENV_SEED) or 0)
    overrides = tuple(json.loads(os.environ.get(ENV_OVERRIDES) or "[]"))
    return {"scenario_path": scenario, "scale": scale, "seed": seed, "overrides": overrides}


def make_model_params(scenario_path: str | None, scale: float, seed: int, overrides: tuple[str, ...] = (),
                      base: Scenario | None = None) -> dict:
    """SolaraViz ``model_params``: the page's controls, starting at the scenario's values."""
    base = base if base is not None else load_base(scenario_path, overrides)
    d = control_defaults(base)
    scales = sorted(set(SCALE_CHOICES) | {f"{scale:g}"}, key=float)
    return {
        # Fixed: passed to AppModel on every Reset, not shown.
        "scenario_path": scenario_path,
        "overrides": tuple(overrides),
        # Mix A (normalised to shares that sum to 1).
        "police": Slider("Mix A: police prevention (weight)", d.police, 0, 100, 1),
        "social": Slider("Mix A: social prevention (weight)", d.social, 0, 100, 1),
        "community": Slider("Mix A: community prevention (weight)", d.community, 0, 100, 1),
        "comparison": {"type": "Select", "label": "Mix B: comparison mix", "value": "Scenario mix",
                       "values": list(COMPARISONS)},
        # Shared by both mixes.
        "budget_musd": Slider("Budget (USD million per year)", d.budget_musd, 0.0, max(20.0, 2 * d.budget_musd), 0.01,
                              dtype=float),
        "usd_per_neighbourhood_k": Slider("Allocation (USD thousand per neighbourhood-year)", d.usd_per_neighbourhood_k,
                                          0, max(300, 2 * d.usd_per_neighbourhood_k), 1, dtype=int),
        "hot_zone_share": Slider("Hot-zone share of extra patrol", d.hot_zone_share, 0.0, 1.0, 0.01, dtype=float),
        "implementation_quality": Slider("Community-policing quality (procedurally just contacts)",
                                         d.implementation_quality, 0.0, 1.0, 0.01, dtype=float),
        "program_capacity": Slider("Program capacity (places per USD, × scenario)", 1.0, 0.25, 4.0, 0.25, dtype=float),
        "rollout_pct": Slider("Rollout after the pilot (% of the scenario's cohorts)", 100, 0, 200, 10, dtype=int),
        "scale": {"type": "Select", "label": "Agents per inhabitant (scale)", "value": f"{scale:g}", "values": scales},
        "seed": Slider("Random seed (both mixes)", seed, 0, max(99, seed), 1, dtype=int),
    }


def initial_kwargs(model_params: dict) -> dict:
    out = {}
    for name, p in model_params.items():
        if isinstance(p, Slider):
            out[name] = p.value
        elif isinstance(p, dict) and "type" in p:
            out[name] = p["value"]
        else:
            out[name] = p
    return out


# --- adaptations of Mesa's page -------------------------------------------------------------------


def _full_width_layout(num_components: int) -> list[dict]:
    layout, y = [], 0
    for i in range(num_components):
        h = HEIGHTS[i] if i < len(HEIGHTS) else 10
        layout.append({"i": i, "w": 12, "h": h, "moved": False, "x": 0, "y": y})
        y += h
    return layout


def _show_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@solara.component
def ControlInputs(user_params: dict, on_change=None):
    """Mesa's UserInputs with each control's current value in its label."""
    current, set_current = solara.use_state({})
    solara.Text("Move the controls, then press RESET to run them.", style={"color": "#777", "font-size": "0.85rem"})
    for name, options in user_params.items():
        def handler(value, name=name):
            set_current(lambda old, name=name, value=value: {**old, name: value})
            if on_change is not None:
                on_change(name, value)

        if isinstance(options, Slider):
            float_slider = options.is_float_slider
            options = {"label": options.label, "value": options.value, "min": options.min, "max": options.max,
                       "step": options.step, "type": "SliderFloat" if float_slider else "SliderInt"}
        value = current.get(name, options.get("value"))
        label = options.get("label", name)
        kind = options.get("type")
        if kind == "Select":
            solara.Select(label, value=value, values=options.get("values"), on_value=handler)
        elif kind in ("SliderInt", "SliderFloat"):
            cls = solara.SliderFloat if kind == "SliderFloat" else solara.SliderInt
            # Label on its own line (with the value), so the slider gets the card's full width.
            with solara.Div(classes=[f"sn-control-{name}"], style={"margin-top": "6px"}):
                solara.Text(f"{label}: {_show_value(value)}", style={"font-size": "0.9rem"})
                cls("", value=value, on_value=handler, min=options.get("min"), max=options.get("max"),
                    step=options.get("step"), thumb_label=False)
        elif kind == "Checkbox":
            solara.Checkbox(label=label, value=value, on_value=handler)
        elif kind == "InputText":
            solara.InputText(label=label, value=value, on_value=handler)
        else:
            raise ValueError(f"{kind} is not a supported input type")


def _adapt_mesa() -> None:
    """Stack components at full width and label controls with their values (module globals of
    Mesa's solara_viz that SolaraViz looks up when it renders; skipped if Mesa renames them)."""
    if hasattr(solara_viz, "make_initial_grid_layout"):
        solara_viz.make_initial_grid_layout = _full_width_layout
    if hasattr(solara_viz, "UserInputs"):
        solara_viz.UserInputs = ControlInputs


_adapt_mesa()

SETTINGS = settings_from_env()
BASE = load_base(SETTINGS["scenario_path"], SETTINGS["overrides"])
MODEL_PARAMS = make_model_params(SETTINGS["scenario_path"], SETTINGS["scale"], SETTINGS["seed"], SETTINGS["overrides"],
                                 base=BASE)
TITLE = f"Safe Neighborhood (Barrio Seguro) — {BASE.name}"


@solara.component
def Page():
    # One model per browser session (the module is executed once for the whole server).
    from sn_sim.app.model import AppModel

    model = solara.use_memo(lambda: AppModel(**initial_kwargs(MODEL_PARAMS)), [])
    solara.Title(TITLE)
    return SolaraViz(model, components=list(COMPONENTS), model_params=MODEL_PARAMS, name=TITLE, play_interval=50)


page = Page()
