"""The SolaraViz page: ``sn-sim app [SCENARIO]`` serves it; ``solara run sn_sim/app/app.py`` works too.

The scenario, scale, seed and ``--set`` overrides come from environment variables that
``sn-sim app`` sets (``SN_SIM_APP_SCENARIO``, ``SN_SIM_APP_SCALE``, ``SN_SIM_APP_SEED``,
``SN_SIM_APP_OVERRIDES`` as a JSON list); without them the page opens the shipped national
rollout at ``DEFAULT_SCALE``.

Built on Mesa's public SolaraViz API only, composed, not patched:

- ``SolaraViz`` supplies the app bar and the sidebar -- Reset / Play / Step, play and render
  intervals, and the Model Parameters card, which it builds from ``model_params`` (Mesa
  ``Slider`` and ``Select`` parameters generated from the control table,
  :func:`sn_sim.app.controls.model_params`). Moved controls take effect on **Reset**, which
  re-creates ``AppModel`` with them. The controls keep Mesa's look: a slider shows its value in
  its thumb while it is moved or focused (Mesa has no public hook to label it otherwise).
- It is given no ``components``: Mesa would lay them out as a draggable grid of half-width
  cells (no public hook for the layout). Instead the page renders its own components at full
  width below it, from the same reactive model that SolaraViz steps and resets, so Step, Play
  and Reset redraw them exactly as they would Mesa's own components.
"""

from __future__ import annotations

import json
import os

import solara
from mesa.visualization import SolaraViz

from sn_sim.app.components import BlockMap, StageTimeline, Summary, TimeSeries
from sn_sim.app.controls import model_params
from sn_sim.app.model import DEFAULT_SCALE, AppModel, load_base

ENV_SCENARIO = "SN_SIM_APP_SCENARIO"
ENV_SCALE = "SN_SIM_APP_SCALE"
ENV_SEED = "SN_SIM_APP_SEED"
ENV_OVERRIDES = "SN_SIM_APP_OVERRIDES"

# The page's main area, top to bottom, each at full width.
COMPONENTS = (Summary, TimeSeries, BlockMap, StageTimeline)


def settings_from_env() -> dict:
    return {
        "scenario": os.environ.get(ENV_SCENARIO) or None,
        "scale": float(os.environ.get(ENV_SCALE) or DEFAULT_SCALE),
        "seed": int(os.environ.get(ENV_SEED) or 0),
        "overrides": tuple(json.loads(os.environ.get(ENV_OVERRIDES) or "[]")),
    }


SETTINGS = settings_from_env()
BASE = load_base(SETTINGS["scenario"], SETTINGS["overrides"], scale=SETTINGS["scale"])
START = {"seed": SETTINGS["seed"]}  # controls not starting at the scenario's value
MODEL_PARAMS = model_params(BASE, **START)
TITLE = f"Safe Neighborhood (Barrio Seguro) — {BASE.name}"


@solara.component
def Page():
    # One model per browser session (the module is executed once for the whole server). SolaraViz
    # steps and replaces the model held by this reactive variable; the components below read it.
    initial = solara.use_memo(lambda: AppModel(BASE, **START), [])
    model = solara.use_reactive(initial)
    solara.Title(TITLE)
    SolaraViz(model, components=[], model_params=MODEL_PARAMS, name=TITLE, play_interval=50)
    with solara.Column(style={"width": "100%", "max-width": "1100px", "gap": "12px"}):
        for component in COMPONENTS:
            component(model.value)


page = Page()
