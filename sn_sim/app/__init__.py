"""Interactive app for policy teams: a Mesa SolaraViz page over the Safe Neighborhood model.

``sn-sim app [SCENARIO]`` (see :mod:`sn_sim.app.cli`) starts it on 127.0.0.1; ``docs/app.md``
describes the page. The pieces:

- :mod:`sn_sim.app.controls` -- the control table ``CONTROLS``: every control once (label, kind,
  range, the scenario keys it sets); the model's signature, the scenarios of both mixes, Mesa's
  ``model_params`` and the table in ``docs/app.md`` are derived from it.
- :mod:`sn_sim.app.model` -- ``AppModel``: two twin ``SafeNeighbourhoodModel`` runs (mix A from
  the sliders, comparison mix B) on the same seed, built from a scenario plus the controls, and
  the treated-vs-comparison series the page plots (outcomes of the registry, pooled with
  ``outcomes.pooled``). Needs only the core dependencies.
- :mod:`sn_sim.app.components` -- Solara components (summary, time series, block map, stages).
- :mod:`sn_sim.app.app` -- the page: Mesa's SolaraViz (sidebar, controls) with the components
  below it (``solara run sn_sim/app/app.py`` also works).

Solara, Mesa's visualisation layer and their browser assets come with the ``app`` extra
(``pip install -e ".[app]"``). This package imports none of them at import time, so the CLI
works without the extra and says what to install when ``sn-sim app`` is used without it.
"""

from __future__ import annotations

from sn_sim.lazy import lazy_package

# Loaded on first use (sn_sim/lazy.py): the CLI imports this package for the `app` parser, which
# needs neither Mesa nor the model.
__getattr__, __dir__ = lazy_package(__name__, {
    "CONTROLS": "sn_sim.app.controls", "AppModel": "sn_sim.app.model", "DEFAULT_SCALE": "sn_sim.app.controls"})

__all__ = ["AppModel", "CONTROLS", "DEFAULT_SCALE"]
