"""The compiled kernels (sn_sim/world/compiled.py) give exactly what the NumPy code gives.

A world takes the compiled path from ``COMPILED_MIN_RESIDENTS`` residents on, the NumPy path
below (``SN_SIM_KERNELS`` overrides): results must not depend on which, so the kernels are
checked number for number against their NumPy twins, on inputs built to hit the edges, and whole
runs on both paths are compared field by field."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import sn_sim.processes.youth as youth_module
import sn_sim.world.world as world_module
from sn_sim.errors import SnSimError
from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.processes.crime import _row_search
from sn_sim.world import compiled
from sn_sim.world.kernels import COMPILED_MIN_RESIDENTS, KERNELS_ENV, use_compiled


def _run(scenario, path: str, monkeypatch) -> SafeNeighbourhoodModel:
    monkeypatch.setenv(KERNELS_ENV, path)
    model = SafeNeighbourhoodModel(scenario, rng=3)
    assert model.world.compiled is (path == "compiled")
    model.run()
    return model


def test_a_run_is_identical_on_both_paths(tiny_scenario, monkeypatch):
    # Small chunks, so the per-chunk passes (neighbourhood chunks, youth chunks) run many times.
    monkeypatch.setattr(world_module, "CHUNK", 700)
    monkeypatch.setattr(youth_module, "CHUNK", 700)
    scenario = tiny_scenario.with_overrides({"population.scale": 0.05})
    fast, slow = _run(scenario, "compiled", monkeypatch), _run(scenario, "numpy", monkeypatch)
    assert len(fast.world.neighbourhood_chunks) > 3
    for field in dataclasses.fields(fast.world.residents):
        a, b = getattr(fast.world.residents, field.name), getattr(slow.world.residents, field.name)
        assert np.array_equal(a, b), field.name
    tag = (scenario.name, 0, 3)
    pd.testing.assert_frame_equal(fast.recorder.panel(*tag), slow.recorder.panel(*tag))
    pd.testing.assert_frame_equal(fast.recorder.blocks(0), slow.recorder.blocks(0))
    # The run exercised what the kernels decide: offences, gang moves, patrol's trust gain.
    panel = slow.recorder.panel(*tag)
    assert panel.offences.sum() > 0 and panel.youth_in_gangs.std() > 0 and panel.trust_from_patrol.abs().sum() > 0


def test_target_search_matches_the_numpy_search_at_the_edges():
    rng = np.random.default_rng(0)
    homes_total, C, areas = 40, 24, 5
    weights = rng.random((homes_total, C), dtype=np.float32)
    weights[:, :3] = 0  # zero-weight columns first, last and in the middle: never picked
    weights[:, -2:] = 0
    weights[:, 10] = 0
    attract = rng.random((areas, C), dtype=np.float32) * np.float32(50)
    homes = np.sort(rng.choice(homes_total, 12, replace=False)).astype(np.int64)
    area = rng.integers(0, areas, homes.size).astype(np.int64)
    rows = np.sort(rng.integers(0, homes.size, 400)).astype(np.int64)
    u = rng.random(rows.size)
    u[:50] = 0.0
    u[50:100] = np.nextafter(1.0, 0.0)  # the rounding of u x total reaches the row's end
    expected = _row_search(weights[homes] * attract[area], rows, u)
    got = compiled.target_columns(weights, homes, attract, area, rows, u)
    assert np.array_equal(got, expected)
    assert not np.isin(got, [0, 1, 2, 10, C - 2, C - 1]).any()


def test_gang_moves_match_the_numpy_transitions(tiny_scenario, monkeypatch):
    monkeypatch.setenv(KERNELS_ENV, "numpy")
    model = SafeNeighbourhoodModel(tiny_scenario.with_overrides({"population.scale": 0.05}), rng=1)
    world = model.world
    r = world.residents
    # Every state, age, enrolment and prison status in play.
    rng = np.random.default_rng(2)
    everyone = world.ages.gang_idx
    r.gang[everyone] = rng.integers(0, 3, everyone.size).astype(np.uint8)
    r.program[everyone[::3]] = 0
    r.released_week[everyone[::7]] = world.clock.week + 5
    share = rng.random(world.geo.n)
    u_move, u_recover = rng.random(everyone.size), rng.random(everyone.size)
    before = r.gang.copy()

    youth_module._transitions(world, share, everyone, u_move, u_recover)
    expected = r.gang.copy()
    r.gang[:] = before
    moved, new = youth_module._compiled_moves(world, share, everyone, u_move, u_recover)
    r.gang[moved] = new
    assert np.array_equal(r.gang, expected)
    assert (expected != before).sum() > 10


def test_thresholded_counts_compare_in_float32_as_numpy_does():
    # 0.1 is not a float32: a score equal to float32(0.1) lies below the float64 0.1, and NumPy
    # compares a float32 array with a Python float in float32, so it counts as at the threshold.
    score = np.array([np.float32(0.1), 0.0999, 0.5], dtype=np.float32)
    numpy_says = int((score >= 0.1).sum())
    ones = np.ones(score.size, dtype=bool)
    counts = compiled.survey_counts(np.array([0, score.size]), np.zeros(score.size, np.int16), ones, ones,
                                    np.zeros(score.size, np.int16), ones, score, score, ones, 0, 52,
                                    np.float32(0.1), np.float32(0.1))
    assert counts[0, 3] == numpy_says == 2


def test_large_worlds_take_the_compiled_path_and_the_choice_can_be_forced(monkeypatch):
    monkeypatch.delenv(KERNELS_ENV, raising=False)
    assert use_compiled(COMPILED_MIN_RESIDENTS) and not use_compiled(COMPILED_MIN_RESIDENTS - 1)
    monkeypatch.setenv(KERNELS_ENV, "numpy")
    assert not use_compiled(10 * COMPILED_MIN_RESIDENTS)
    monkeypatch.setenv(KERNELS_ENV, "compiled")
    assert use_compiled(10)
    monkeypatch.setenv(KERNELS_ENV, "fast")
    with pytest.raises(SnSimError, match="SN_SIM_KERNELS='fast': expected one of auto, numpy, compiled"):
        use_compiled(10)


def test_the_command_line_takes_the_compiled_path_for_a_large_world_with_the_same_results(tmp_path):
    """As a user runs it: `sn-sim run` at scale 0.1 (about 225,000 residents) takes the compiled
    path by itself; forced onto NumPy, the same command writes the same panel."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    sn_sim = str(Path(sys.executable).parent / "sn-sim")
    args = ["run", "no_intervention", "--scale", "0.1", "--set", "calendar.end=2015-03-30",
            "--set", "calendar.burn_in_weeks=4", "--no-plots", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != KERNELS_ENV}
    for name, extra in (("auto", {}), ("numpy", {KERNELS_ENV: "numpy"})):
        subprocess.run([sn_sim, *args, "--out", str(tmp_path / name)], env={**env, **extra}, check=True,
                       capture_output=True, timeout=300)
    auto, numpy_path = (pd.read_parquet(tmp_path / name / "panel.parquet") for name in ("auto", "numpy"))
    assert len(auto) > 0 and auto.offences.sum() > 0
    agents = auto[auto.week == 0].population.sum() * 0.1
    assert agents >= COMPILED_MIN_RESIDENTS  # so the default path is the compiled one (use_compiled)
    pd.testing.assert_frame_equal(auto, numpy_path)
