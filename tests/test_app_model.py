"""The app without a browser: the control table and everything derived from it, and the plotted
series (outcomes of the registry). Runs on the tiny scenario of conftest, so it is fast; Mesa's
visualisation layer is only needed for the ``model_params`` test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from sn_sim.app.controls import (
    BY_NAME, COMPARISONS, CONTROLS, NO_STRATEGY, control_values, markdown_table, normalise_mix, rollout_counts,
    scenario_overrides,
)
from sn_sim.app.model import PLOTTED, AppModel, group_masks, group_series
from sn_sim.observe import outcomes

REPO = Path(__file__).resolve().parents[1]


def _moved_value(c, start):
    """A value of control ``c`` other than its starting value."""
    if c.kind == "choice":
        return next(v for v in c.options(start) if v != start)
    return c.value(c.upper(start)) if c.value(c.upper(start)) != start else c.value(c.low)


def test_every_control_is_an_app_model_keyword():
    params = inspect.signature(AppModel.__init__).parameters
    assert list(params) == ["self", "base", *BY_NAME]
    assert all(params[c.name].default is None for c in CONTROLS)


def test_controls_at_their_start_change_nothing(tiny_scenario):
    values = control_values(tiny_scenario)
    for run in ("A", "B"):
        assert scenario_overrides(tiny_scenario, values, run) == {}
    m = AppModel(tiny_scenario)
    assert m.twins_identical and m.scenarios["A"].digest() == tiny_scenario.digest()
    assert m.controls == values


def test_each_control_alone_gives_a_valid_scenario_for_its_runs(tiny_scenario):
    start = control_values(tiny_scenario)
    for c in CONTROLS:
        values = {**start, c.name: _moved_value(c, start[c.name])}
        for run in ("A", "B"):
            sets = scenario_overrides(tiny_scenario, values, run)
            if c.applies not in ("both", run) or c.name == "seed":  # the seed is no scenario key
                assert sets == {}, (c.name, run)
            else:
                assert sets, (c.name, run)
                tiny_scenario.with_overrides(sets)  # validates


def test_the_mix_is_normalised_and_only_mix_a_moves(tiny_scenario):
    assert normalise_mix(0, 0, 0) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    values = {**control_values(tiny_scenario), "police": 100}
    a = scenario_overrides(tiny_scenario, values, "A")
    assert sum(a[f"strategy.mix.{p}"] for p in ("police", "social", "community")) == pytest.approx(1)
    assert scenario_overrides(tiny_scenario, values, "B") == {}


def test_no_strategy_wins_over_a_rollout_size(tiny_scenario):
    values = {**control_values(tiny_scenario), "comparison": NO_STRATEGY, "rollout_pct": 50}
    b = tiny_scenario.with_overrides(scenario_overrides(tiny_scenario, values, "B"))
    a = tiny_scenario.with_overrides(scenario_overrides(tiny_scenario, values, "A"))
    assert b.strategy.rollout == []
    assert [c.neighbourhoods for c in a.strategy.rollout] == rollout_counts(tiny_scenario, 50) == [2, 2]


def test_unknown_controls_and_comparisons_are_refused(tiny_scenario):
    with pytest.raises(TypeError, match="unknown control"):
        AppModel(tiny_scenario, polise=10)
    with pytest.raises(ValueError, match="unknown mix"):
        AppModel(tiny_scenario, comparison="Everything")
    assert set(COMPARISONS) == set(BY_NAME["comparison"].options(None))


def test_model_params_come_from_the_table(tiny_scenario):
    pytest.importorskip("mesa.visualization", reason="Mesa's visualisation layer comes with the app extra")
    from mesa.visualization import Slider

    from sn_sim.app.controls import model_params

    params = model_params(tiny_scenario, seed=7)
    assert list(params) == ["base", *BY_NAME] and params["base"] is tiny_scenario
    assert params["seed"].value == 7 and isinstance(params["seed"], Slider)
    assert params["police"].label == BY_NAME["police"].label
    assert params["comparison"]["type"] == "Select"
    assert params["scale"]["value"] == f"{tiny_scenario.population.scale:g}" in params["scale"]["values"]


def test_docs_list_every_control():
    assert markdown_table() in (REPO / "docs" / "app.md").read_text(encoding="utf-8"), (
        "docs/app.md is stale: paste `python -c 'from sn_sim.app.controls import markdown_table; "
        "print(markdown_table())'` into its control table")


def test_plotted_series_are_the_registry_outcomes(tiny_scenario):
    m = AppModel(tiny_scenario, seed=3, police=100, comparison="Social only")
    m.advance(70)
    run = m.runs["A"]
    treated, comp = group_masks(run)
    assert treated.any() and comp.any()
    cols = {c: a[:m.week] for c, a in run.recorder.columns.items()}
    raw = group_series(run, comp, window=1)
    for name in PLOTTED:
        assert np.allclose(raw[name], outcomes.pooled(cols, name, comp), equal_nan=True), name
    # Flows are plotted as ratios of sums over the trailing window.
    smooth = m.series()["A"]["comparison"]["offences_per_1000_year"]
    o = outcomes.get("offences_per_1000_year")
    num = cols["offences"][m.week - 4:m.week, comp].sum()
    den = cols["population"][m.week - 4:m.week, comp].sum()
    assert smooth[-1] == pytest.approx(o.factor * num / den)


def test_the_app_uses_only_the_public_api():
    for path in (REPO / "sn_sim" / "app").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"sn_sim\.(world|processes)\b", text), path.name
        assert "parents[" not in text, path.name
