"""Figures a ministry would use: every figure comes back as a matplotlib Figure, in the
colour-blind-safe palette, titled with its question, without all-zero series in its legends;
compare draws paired effects over time; run plots draw the counterfactual twin when there is one.
(The command line's PNG and SVG files are checked end to end in test_report.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from mini import mini_scenario
from sn_sim.api import run
from sn_sim.errors import SnSimError
from sn_sim.evaluation.twins import run_twin
from sn_sim.experiment.compare import SERIES, compare, paired_effects_over_time
from sn_sim.observe import style
from sn_sim.observe.plots import FIGURES as RUN_FIGURES

PALETTE = {c.lower() for c in style.PALETTE}


def title(fig) -> str:
    """The figure's title, unwrapped."""
    return fig.get_suptitle().replace("\n", " ")


def colours_of(fig) -> set[str]:
    """Every colour a figure's lines, markers and error bars are drawn in."""
    out = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_linestyle() not in ("None", ""):
                out.add(to_hex(line.get_color()))
            if line.get_marker() not in (None, "None", "", " "):  # e.g. error-bar caps: markers only
                out.add(to_hex(line.get_markeredgecolor()))
        for coll in ax.collections:  # error-bar segments, scatter markers
            for c in np.atleast_2d(coll.get_edgecolor()):
                if len(c) and c[-1] > 0:
                    out.add(to_hex(c, keep_alpha=False))
    return out


@pytest.fixture(scope="module")
def tiny_with_twin(tiny_scenario):
    results = run(tiny_scenario, seed=3, replicates=2)
    return results, run_twin(results)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    (d / "mini.toml").write_text(mini_scenario())
    (d / "police.toml").write_text(mini_scenario("police_heavy") + "[strategy.mix]\npolice = 0.8\nsocial = 0.1\n"
                                   "community = 0.1\n")
    rollout = "[[strategy.rollout]]\nyear = 2016\nneighbourhoods = 2\nlaunch = 2016-03-07\n"
    assert rollout in mini_scenario()
    (d / "none.toml").write_text(mini_scenario("nothing").replace(rollout, ""))
    (d / "same.toml").write_text(mini_scenario("same"))
    return compare([d / "mini.toml", d / "police.toml", d / "none.toml", d / "same.toml"], replicates=2, seed=5,
                   workers=1)


def test_run_figures_draw_the_twin_in_the_palette(tiny_with_twin):
    results, twin = tiny_with_twin
    figs = results.figures(twin)
    assert list(figs) == list(RUN_FIGURES) and all(isinstance(f, Figure) for f in figs.values())
    fig = results.plot("crime_trust_treated_vs_control", twin=twin)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 4
    for ax in panels:
        labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert labels == ["treated (ever)", "treated, without the Strategy (twin)", "never treated"]
        assert ax.get_ylim()[0] == 0  # levels start at 0
    assert "twin = the same run without the Strategy" in title(fig)
    for f in figs.values():
        assert colours_of(f) <= PALETTE, colours_of(f) - PALETTE
        assert f.get_suptitle().split("\n")[0].endswith("?")  # the question it answers
    # Before the first launch the twin and the run are the same world: the lines coincide.
    treated = panels[0].get_lines()[0].get_ydata()
    counterfactual = panels[0].get_lines()[1].get_ydata()
    assert np.allclose(treated[:10], counterfactual[:10]) and not np.allclose(treated, counterfactual)


def test_a_plain_run_says_it_has_no_counterfactual_and_hides_empty_series(tiny_with_twin, tiny_scenario):
    results, _ = tiny_with_twin
    fig = results.plot()
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert "treated, without the Strategy (twin)" not in labels
    assert "no counterfactual recorded" in title(fig)
    # An intervention-free run: no pillar is active, so the activity and cost panels list nothing.
    quiet = run(tiny_scenario.with_overrides(["strategy.rollout=[]", "culture_points.districts=[]"]), seed=3,
                replicates=1)
    effort = quiet.plot("youth_and_effort")
    for ax in effort.axes[1:]:
        assert ax.get_legend() is None and not ax.get_lines()
    with pytest.raises(SnSimError, match="unknown figure"):
        results.plot("nope")


def test_compare_plots_paired_effects_per_scenario(comparison):
    fig = comparison.plot("effects_over_time")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == len(SERIES)
    for ax in panels:
        drawn = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert drawn == ["police_heavy", "nothing"]  # "same" is the base again: named in the title, not drawn
        assert ax.get_ylim()[0] <= 0 <= ax.get_ylim()[1]  # the no-effect line is on the axis
    assert "not drawn: same" in title(fig)
    assert colours_of(fig) <= PALETTE
    # The line is the mean of the paired differences, replicate by replicate.
    offences = panels[0].get_lines()[0]
    s = comparison.series[comparison.series["scope"] == "all"]
    wide = {n: s[s["scenario"] == n].pivot(index="date", columns="replicate", values=SERIES[0])
            .sort_index().rolling(4, min_periods=1).mean() for n in ("mini", "police_heavy")}
    expected = (wide["police_heavy"] - wide["mini"]).mean(axis=1)
    assert np.allclose(offences.get_ydata(), expected.to_numpy())
    e = paired_effects_over_time(comparison, "trust_police")["nothing"]
    assert (e["lo"] <= e["effect"] + 1e-12).all() and (e["effect"] <= e["hi"] + 1e-12).all()
    # Removing the rollout removes its cost: the cumulative-cost effect ends clearly below 0.
    cost = paired_effects_over_time(comparison, "total_cost_to_date_usd")["nothing"].iloc[-1]
    assert cost["hi"] < 0
    with pytest.raises(SnSimError, match="has no scope"):
        comparison.plot("effects_over_time", scope="treated")


def test_cost_effect_has_no_labels_to_collide(comparison):
    fig = comparison.plot("cost_effect")
    ax = fig.axes[0]
    assert not ax.texts  # names are in the legend, never printed beside the points
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "mini (the base)"
    assert [lab.split(":")[0] for lab in labels[1:]] == ["police_heavy", "nothing", "same"]
    assert colours_of(fig) <= PALETTE
    forest = comparison.plot("forest")
    assert colours_of(forest) <= PALETTE and isinstance(forest, Figure)


def test_fit_figure_tells_accepted_by_shape_and_colour():
    from sn_sim.calibration.report import fit_figure

    table = pd.DataFrame({
        "id": ["a", "b"], "sample": ["", "in-sample"], "role": ["fitted", "fitted"], "simulated_mean": [1.0, 5.0],
        "sim_p05": [0.9, 4.0], "sim_p95": [1.1, 6.0], "band_low": [0.5, 1.0], "band_high": [1.5, 2.0],
        "accepted": [True, False]})
    fig = fit_figure(table)
    ax = fig.axes[0]
    from matplotlib.collections import PathCollection

    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert {to_hex(c.get_facecolor()[0]) for c in points} == {style.GREEN.lower(), style.VERMILLION.lower()}
    assert len({c.get_paths()[0].vertices.shape for c in points}) == 2  # two marker shapes, not one
    assert colours_of(fig) <= PALETTE


def test_estimator_colours_are_from_the_palette():
    from sn_sim.evaluation import estimators as est
    from sn_sim.evaluation.figures import _LOOK, estimator_comparison_figure

    assert {c.lower() for c, _ in _LOOK.values()} <= PALETTE
    assert set(est.ESTIMATORS) <= set(_LOOK)
    rows = [{"term": "ATT", "outcome": "trust_police", "estimator": e, "replicate": r, "estimate": 0.01 * i,
             "ci_low": 0.01 * i - 0.01, "ci_high": 0.01 * i + 0.01, "true_effect": 0.02, "true_att": 0.02}
            for i, e in enumerate(est.ESTIMATORS) for r in (0, 1)]
    fig = estimator_comparison_figure(pd.DataFrame(rows), ["trust_police"])
    assert colours_of(fig) <= PALETTE
