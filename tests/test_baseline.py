"""Regression against the stored baseline (tests/data/baseline.json).

A failure here means the results of a shipped scenario changed. If that was intended, check
``python tests/baseline.py --noise``, then ``python tests/baseline.py --refresh`` and say in the
commit which figures moved and why.
"""

from __future__ import annotations

import json
import math

import pytest

import baseline as bl

STORED = json.loads(bl.BASELINE.read_text())


@pytest.mark.parametrize("name", sorted(STORED["scenarios"]))
def test_shipped_scenario_matches_baseline(name):
    assert STORED["scale"] == bl.SCALE and STORED["seed"] == bl.SEED
    new = bl.run_summaries(name, bl.CHECKED_REPLICATES)
    for i, (stored, now) in enumerate(zip(STORED["scenarios"][name], new)):
        assert set(now) == set(stored), f"{name} replicate {i}: statistics differ: {set(now) ^ set(stored)}"
        changed = {k: (stored[k], now[k]) for k in stored
                   if not math.isclose(stored[k], now[k], rel_tol=1e-9, abs_tol=1e-9)}
        assert not changed, (f"{name} replicate {i}: results changed (intended? see tests/baseline.py): "
                             + ", ".join(f"{k}: {a:.6g} -> {b:.6g}" for k, (a, b) in list(changed.items())[:8]))


def test_every_shipped_scenario_has_a_baseline():
    assert sorted(STORED["scenarios"]) == sorted(bl.shipped_scenarios())
