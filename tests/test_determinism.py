"""Same scenario and seed give the same results; seeds and replicates give independent runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sn_sim.api import run, run_replicate

from conftest import TINY_SEED


def _core(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.reset_index(drop=True)


def test_same_seed_gives_an_identical_panel_and_blocks(tiny_scenario, tiny_results):
    again = run(tiny_scenario, seed=TINY_SEED, replicates=2)
    pd.testing.assert_frame_equal(again.panel, tiny_results.panel)
    pd.testing.assert_frame_equal(again.blocks, tiny_results.blocks)
    for key in ("scenario_hash", "seed", "replicates", "replicate_streams", "version"):
        assert again.manifest[key] == tiny_results.manifest[key]


def test_same_seed_is_identical_after_a_round_trip_through_the_scenario_file(tiny_path, tiny_scenario):
    from sn_sim.scenario import load_scenario

    a = run(tiny_scenario, seed=5).panel
    b = run(str(tiny_path), seed=5).panel  # run() also accepts a path
    c = run(load_scenario(tiny_path), seed=5).panel
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


def test_different_seeds_give_different_runs(tiny_scenario, tiny_results):
    other = run(tiny_scenario, seed=TINY_SEED + 1).panel
    mine = tiny_results.panel[tiny_results.panel.replicate == 0].reset_index(drop=True)
    assert not np.array_equal(mine.offences.to_numpy(), other.offences.to_numpy())
    assert not np.array_equal(mine.trust_police.to_numpy(), other.trust_police.to_numpy())


def test_replicates_differ_from_each_other(tiny_results):
    p = tiny_results.panel
    r0 = p[p.replicate == 0].reset_index(drop=True)
    r1 = p[p.replicate == 1].reset_index(drop=True)
    assert not np.array_equal(r0.offences.to_numpy(), r1.offences.to_numpy())
    assert not np.array_equal(r0.victimisation_12m.to_numpy(), r1.victimisation_12m.to_numpy())


@pytest.mark.parametrize("replicate", [0, 1])
def test_replicate_alone_equals_the_same_replicate_in_a_batch(tiny_scenario, tiny_results, replicate):
    panel, blocks, *_ = run_replicate(tiny_scenario, TINY_SEED, replicate)
    p, b = tiny_results.panel, tiny_results.blocks
    pd.testing.assert_frame_equal(_core(panel), _core(p[p.replicate == replicate]))
    pd.testing.assert_frame_equal(_core(blocks), _core(b[b.replicate == replicate]))


def test_first_replicate_does_not_depend_on_how_many_are_run(tiny_scenario, tiny_results):
    one = run(tiny_scenario, seed=TINY_SEED, replicates=1).panel
    p = tiny_results.panel
    pd.testing.assert_frame_equal(one, _core(p[p.replicate == 0]))


def test_manifest_records_independent_replicate_streams(tiny_results):
    streams = tiny_results.manifest["replicate_streams"]
    assert [s["replicate"] for s in streams] == [0, 1]
    assert len({tuple(s["spawn_key"]) for s in streams}) == 2
    assert len({s["entropy"] for s in streams}) == 1  # one root seed
