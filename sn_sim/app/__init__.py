"""Interactive app for policy teams: a Mesa SolaraViz page over the Safe Neighborhood model.

``sn-sim app [SCENARIO]`` (see :mod:`sn_sim.app.cli`) starts it on 127.0.0.1; ``docs/app.md``
describes the page. The pieces:

- :mod:`sn_sim.app.model` -- ``AppModel``: two twin ``SafeNeighbourhoodModel`` runs (mix A from
  the sliders, comparison mix B) on the same seed, built from a scenario plus the controls, and
  the treated-vs-comparison series the page plots. Needs only the core dependencies.
- :mod:`sn_sim.app.components` -- Solara components (summary, time series, block map, stages).
- :mod:`sn_sim.app.app` -- the SolaraViz page (``solara run sn_sim/app/app.py`` also works).

Solara, Mesa's visualisation layer and their browser assets come with the ``app`` extra
(``pip install -e ".[app]"``). This package imports none of them at import time, so the CLI
works without the extra and says what to install when ``sn-sim app`` is used without it.
"""

from sn_sim.app.model import AppModel, DEFAULT_SCALE

__all__ = ["AppModel", "DEFAULT_SCALE"]
