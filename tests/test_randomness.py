"""Named random streams: a stream's numbers depend on its name, the seed and the week only.

Adding a process with a stream of its own, or requesting streams in another order, must leave
every other stream's draws unchanged (sn_sim/world/randomness.py); otherwise a new mechanism or
a reordered schedule would silently change every result and break common random numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

import sn_sim.model
from sn_sim.world.clock import Clock
from sn_sim.world.randomness import WEEK_OFFSET, RandomStreams, name_key

from conftest import make_model

# The names the shipped processes use (streams, and keys of per-person uniforms).
STREAMS = ("strategy", "police", "contacts", "operations", "community", "programs", "culture", "youth", "offending")
KEYS = ("crime", "justice", "juntas", "juntas.joins", "tips")
IDS = np.array([0, 1, 2, 17, 1_000, 123_456, 2**31], dtype=np.int64)


def _streams(seed=2024, week=5, spawn_key=()) -> RandomStreams:
    clock = Clock(dt.date(2016, 1, 4), dt.date(2017, 12, 25), week=week)
    return RandomStreams(np.random.SeedSequence(seed, spawn_key=spawn_key), clock)


def _draw_all(rs: RandomStreams, order=STREAMS + KEYS) -> dict[str, np.ndarray]:
    """Some draws from every shipped stream and per-person uniforms of every shipped key."""
    out = {}
    for name in order:
        if name in STREAMS:
            out[name] = np.concatenate([rs.stream(name).random(5), rs.stream(name).integers(0, 1000, 5)])
        else:
            out[name] = np.concatenate([rs.uniforms(name, IDS, 3).ravel(), [float(rs.key(name))]])
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("extra", ["stream", "uniforms", "both"])
def test_a_new_stream_requested_first_leaves_every_other_stream_unchanged(extra):
    plain = _draw_all(_streams())
    rs = _streams()
    if extra in ("stream", "both"):
        rs.stream("some_new_process").random(10_000)
    if extra in ("uniforms", "both"):
        rs.uniforms("x", np.arange(10_000), 4)
    _assert_same(_draw_all(rs), plain)


def test_a_new_stream_drawn_in_between_leaves_the_others_unchanged():
    plain = _draw_all(_streams())
    rs = _streams()
    out = {}
    for name in STREAMS + KEYS:
        rs.stream(f"new_before_{name}").random(37)
        rs.uniforms(f"new_uniforms_before_{name}", IDS)
        out.update(_draw_all(rs, (name,)))
    _assert_same(out, plain)


def test_draws_do_not_depend_on_the_order_streams_are_requested():
    forward = _draw_all(_streams(), STREAMS + KEYS)
    backward = _draw_all(_streams(), tuple(reversed(STREAMS + KEYS)))
    rng = np.random.default_rng(0)
    shuffled = _draw_all(_streams(), tuple(rng.permutation(STREAMS + KEYS)))
    _assert_same(forward, backward)
    _assert_same(forward, shuffled)


def test_stream_keys_are_a_hash_of_the_name_and_the_week():
    """The key of a stream is (root entropy, spawn key + (SHA-256 of the name, week)): nothing
    positional, and not Python's salted hash()."""
    for name in STREAMS + KEYS + ("some_new_process",):
        assert name_key(name) == int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    rs = _streams(seed=7, week=-3, spawn_key=(1,))
    for name in KEYS + ("some_new_process",):
        expected = np.random.SeedSequence(7, spawn_key=(1, name_key(name), -3 + WEEK_OFFSET))
        assert rs.key(name) == int(expected.generate_state(1, np.uint64)[0]), name
    for name in STREAMS:
        expected = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(1, name_key(name), -3 + WEEK_OFFSET)))
        np.testing.assert_array_equal(rs.stream(name).random(8), expected.random(8), err_msg=name)


def test_different_names_weeks_seeds_and_replicates_give_different_numbers():
    names = STREAMS + KEYS + ("some_new_process", "x")
    assert len({name_key(n) for n in names}) == len(names)
    base = _streams()
    keys = {base.key(n) for n in names}
    assert len(keys) == len(names)
    assert base.key("crime") != _streams(week=6).key("crime")
    assert base.key("crime") != _streams(seed=2025).key("crime")
    assert base.key("crime") != _streams(spawn_key=(1,)).key("crime")  # another replicate
    assert not np.array_equal(base.stream("youth").random(5), _streams(week=4).stream("youth").random(5))


def test_a_stream_is_the_same_whenever_its_week_comes_back():
    rs = _streams(week=3)
    first = rs.stream("offending").random(6)
    rs.clock.week = 4
    rs.stream("offending").random(6)
    rs.clock.week = 3
    np.testing.assert_array_equal(rs.stream("offending").random(6), first)


def test_uniforms_for_a_person_do_not_depend_on_who_else_draws():
    rs = _streams()
    alone = rs.uniforms("crime", IDS[3:4], 5)
    with_others = rs.uniforms("crime", IDS, 5)
    np.testing.assert_array_equal(with_others[3:4], alone)
    assert np.all((with_others >= 0) & (with_others < 1))


def test_a_model_with_an_extra_process_drawing_new_streams_gives_the_same_run(quiet_scenario, monkeypatch):
    """End to end: a process that draws from streams of its own before every other process (burn-in
    included) leaves the whole panel unchanged."""
    seed = 3
    plain = make_model(quiet_scenario, seed=seed)
    plain.run()
    expected = plain.recorder.panel("quiet", 0, seed)

    calls = {"n": 0}

    class AgeingAfterANewProcess(sn_sim.model.Ageing):
        def step(self):
            w = self.world
            w.random.stream("some_new_process").random(5_000)
            w.random.uniforms("x", np.arange(w.residents.n), 2)
            calls["n"] += 1
            super().step()

    monkeypatch.setattr(sn_sim.model, "Ageing", AgeingAfterANewProcess)
    m = make_model(quiet_scenario, seed=seed)
    m.run()
    assert calls["n"] == quiet_scenario.calendar.burn_in_weeks + m.n_weeks  # it ran every week
    assert m.processes[0].__class__ is AgeingAfterANewProcess  # and first
    pd.testing.assert_frame_equal(m.recorder.panel("quiet", 0, seed), expected)
