"""The app-facing model: two twin runs of the Safe Neighborhood model driven by the page's controls.

``AppModel`` is the Mesa model the SolaraViz page steps and resets. Its keyword arguments are the
page's controls (:data:`sn_sim.app.controls.CONTROLS`; Mesa re-instantiates the class with them on
Reset); it turns them into scenario overrides and runs two ``SafeNeighbourhoodModel`` twins on the
same seed:

- **mix A** -- the pillar sliders (police, social, community weights, normalised to sum to 1, so
  no slider position gives an invalid mix);
- **mix B** -- a comparison chosen from a short list (the scenario's own mix, one pillar only,
  equal thirds, or no Strategy at all).

Every other control (budget, hot-zone share, community-policing quality, program capacity,
rollout size, scale) applies to both, so the two runs differ by the mix alone. The model draws
each weekly process from its own random stream keyed by (seed, process, week), so the twins share
common random numbers and their difference is the effect of the mix, not noise from a reshuffle.

The plotted series are outcomes of the registry (:mod:`sn_sim.observe.outcomes`), pooled over a
group of neighbourhoods with ``outcomes.pooled`` on each run's recorder columns.

This module needs only the core dependencies (no Solara), so it can be tested and scripted.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import threading
import time
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sn_sim.app.controls import (CONTROLS, DEFAULT_SCALE, DEFAULT_SCENARIO, NO_STRATEGY, control_values,
                                 scenario_overrides)
from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, load_scenario


# Plotted outcomes (names of the registry), top left to bottom right.
PLOTTED = ("offences_per_1000_year", "victimisation_12m", "trust_police", "insecurity", "youth_gang_share")
# Flows (outcomes summed over weeks) are plotted as the ratio of sums over a trailing window.
WINDOW_WEEKS = 4
GROUPS = {"never": "never treated", "controls": "designated controls"}


def load_base(scenario: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
              scale: float | None = DEFAULT_SCALE) -> Scenario:
    """The scenario the page starts from: a shipped name or a file, plus ``--set`` overrides, at
    ``scale`` agents per inhabitant (None: the scenario's own). ScenarioError if invalid."""
    sets = list(overrides) + ([f"population.scale={scale!r}"] if scale is not None else [])
    return load_scenario(scenario or DEFAULT_SCENARIO, sets)


def mix_label(mix) -> str:
    return f"police {100 * mix.police:.0f}% · social {100 * mix.social:.0f}% · community {100 * mix.community:.0f}%"


# --- what the page plots --------------------------------------------------------------------------


def group_masks(m: SafeNeighbourhoodModel, comparison_group: str = "never") -> tuple[np.ndarray, np.ndarray]:
    """(treated, comparison) neighbourhood masks as of the model's current week.

    Treated = selected into the Strategy so far. Comparison = never treated so far, or only the
    matched controls the Ministry designated (``comparison_group="controls"``).
    """
    places = m.places
    treated = places.cohort_year > 0
    if comparison_group == "controls":
        return treated, places.is_control & ~treated
    return treated, ~treated


def _trailing_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Sum over the last ``k`` rows (fewer at the start), row by row."""
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    idx = np.arange(1, x.shape[0] + 1)
    return c[idx] - c[np.maximum(idx - k, 0)]


def group_series(m: SafeNeighbourhoodModel, mask: np.ndarray, names=PLOTTED,
                 window: int = WINDOW_WEEKS) -> dict[str, np.ndarray]:
    """Weekly values of each outcome in ``names``, pooled over the neighbourhoods in ``mask``, over
    the weeks recorded so far (registry units: shares as fractions). Flows are ratios of sums
    over the trailing ``window`` weeks. An empty group gives NaN."""
    w = max(min(m.week, m.n_weeks), 0)
    cols = m.recorder.columns
    out = {}
    for name in names:
        o = outcomes.get(name)
        if not mask.any():
            out[name] = np.full(w, np.nan)
            continue
        sub = {c: cols[c][:w] for c in o.columns}
        if o.over_time == "sum" and window > 1:
            sub = {c: _trailing_sum(a, window) for c, a in sub.items()}
        out[name] = outcomes.pooled(sub, name, mask)
    return out


def stage_counts(m: SafeNeighbourhoodModel) -> np.ndarray:
    """(weeks recorded, 5) neighbourhoods in each stage (none, planning, ..., evaluation) per week."""
    w = max(min(m.week, m.n_weeks), 0)
    codes = m.recorder.columns["stage_code"][:w].astype(np.int64)
    out = np.zeros((w, 5), dtype=np.int64)
    for s in range(5):
        out[:, s] = (codes == s).sum(axis=1)
    return out


# --- the Mesa model the page drives ---------------------------------------------------------------


class AppModel(mesa.Model):
    """Mix A and mix B of one scenario, stepped together one week at a time.

    ``base``: the scenario the page starts from (a Scenario, a shipped name or a file; a name or
    file is loaded at ``DEFAULT_SCALE``). Keyword arguments: the controls of
    :data:`~sn_sim.app.controls.CONTROLS` (the signature lists them); ``None`` or absent keeps
    the scenario's value. Mesa's SolaraViz re-creates the model with the current controls on Reset.
    """

    def __init__(self, base: Scenario | str | Path | None = None, **controls: Any):
        base = base if isinstance(base, Scenario) else load_base(base)
        values = control_values(base, controls)
        self.seed = int(values["seed"])
        super().__init__(rng=self.seed)
        self.base = base
        self.controls = values
        self.scenarios = {run: base.with_overrides(scenario_overrides(base, values, run)) for run in ("A", "B")}
        scen_a, scen_b = self.scenarios["A"], self.scenarios["B"]
        t0 = time.perf_counter()
        a = SafeNeighbourhoodModel(scen_a, rng=self.seed)
        # Identical scenarios need one run only: B is then the same object as A.
        b = a if scen_b.digest() == scen_a.digest() else SafeNeighbourhoodModel(scen_b, rng=self.seed)
        self.build_seconds = time.perf_counter() - t0
        self.runs: dict[str, SafeNeighbourhoodModel] = {"A": a, "B": b}
        comp = values["comparison"]
        self.mix = {k: (s.strategy.mix.police, s.strategy.mix.social, s.strategy.mix.community)
                    for k, s in self.scenarios.items()}
        self.labels = {
            "A": f"Mix A (sliders): {mix_label(scen_a.strategy.mix)}",
            "B": f"Mix B ({comp}): " + ("no neighbourhood selected" if comp == NO_STRATEGY
                                         else mix_label(scen_b.strategy.mix)),
        }
        self.step_seconds: list[float] = []
        self._lock = threading.Lock()
        self.running = not a.finished

    # --- time ----------------------------------------------------------------------------------
    @property
    def week(self) -> int:
        return self.runs["A"].week

    @property
    def n_weeks(self) -> int:
        return self.runs["A"].n_weeks

    @property
    def date(self) -> dt.date:
        return self.runs["A"].date

    @property
    def start(self) -> dt.date:
        return self.runs["A"].world.clock.start

    @property
    def finished(self) -> bool:
        return self.runs["A"].finished

    @property
    def twins_identical(self) -> bool:
        return self.runs["A"] is self.runs["B"]

    @property
    def geo(self):
        return self.runs["A"].geo

    def dates(self) -> list[dt.date]:
        clock = self.runs["A"].world.clock
        return [clock.date_of(w) for w in range(self.n_weeks)]

    def launch_dates(self) -> list[tuple[int, dt.date]]:
        return [(c.year, c.launch) for c in self.scenarios["A"].strategy.rollout if c.neighbourhoods > 0]

    # --- stepping --------------------------------------------------------------------------------
    def step(self) -> None:
        """One week of both runs (nothing once the calendar is over)."""
        with self._lock:
            if self.finished:
                self.running = False
                return
            t0 = time.perf_counter()
            a, b = self.runs["A"], self.runs["B"]
            a.step()
            if b is not a:
                b.step()
            self.step_seconds.append(time.perf_counter() - t0)
            self.running = not self.finished

    def advance(self, weeks: int) -> int:
        """Step up to ``weeks`` weeks (stops at the end of the calendar); returns weeks stepped."""
        done = 0
        while done < weeks and not self.finished:
            self.step()
            done += 1
        self.running = not self.finished
        return done

    # --- what the page shows ---------------------------------------------------------------------
    def series(self, comparison_group: str = "never") -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """{mix: {"treated"|"comparison": {outcome: weekly array}}} over the weeks recorded so far."""
        out = {}
        for key, m in self.runs.items():
            treated, comp = group_masks(m, comparison_group)
            out[key] = {"treated": group_series(m, treated), "comparison": group_series(m, comp)}
        return out

    def latest(self, comparison_group: str = "never") -> dict[str, dict[str, dict[str, float]]]:
        """The last plotted value of every series (NaN where nothing is plotted yet)."""
        res = {}
        for key, groups in self.series(comparison_group).items():
            res[key] = {g: {k: (float(v[-1]) if v.size else math.nan) for k, v in ser.items()}
                        for g, ser in groups.items()}
        return res


def _signature() -> inspect.Signature:
    """AppModel's signature as Mesa (and help()) read it: ``base`` and one keyword per control."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("base", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    params += [inspect.Parameter(c.name, inspect.Parameter.KEYWORD_ONLY, default=None) for c in CONTROLS]
    return inspect.Signature(params)


# SolaraViz checks model_params against this signature and, because it lists neither ``scenario``
# nor ``**kwargs``, does not pass a Mesa scenario object on Reset.
AppModel.__init__.__signature__ = _signature()

__all__ = ["AppModel", "DEFAULT_SCALE", "DEFAULT_SCENARIO", "GROUPS", "PLOTTED", "load_base", "group_masks",
           "group_series", "stage_counts"]
