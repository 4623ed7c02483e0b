"""Each process declares the state it writes; the declarations hold against the code.

A week of a model in full swing (the Strategy active, Culture Points running) is replayed one
process at a time; every piece of world state a process changed must be among its ``writes``."""

from __future__ import annotations

import dataclasses

import numpy as np

from sn_sim import SafeNeighbourhoodModel

SECTIONS = ("residents", "blocks", "places", "reference", "tally")


def snapshot(world) -> dict[str, object]:
    state: dict[str, object] = {}
    for section in SECTIONS:
        obj = getattr(world, section)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, np.ndarray):
                state[f"{section}.{f.name}"] = value.copy()
    for ledger in ("trust_ledger", "insecurity_ledger"):
        state[f"{ledger}.rows"] = getattr(world, ledger).rows.copy()
        state[f"{ledger}.score_sum"] = getattr(world, ledger).score_sum.copy()
    state["effort"] = id(world.effort)
    state["offences"] = id(world.offences)
    state["ages"] = id(world.ages)
    if world.offences.cleared is not None:
        state["offences.cleared"] = world.offences.cleared.copy()
    return state


def changed(before: dict, after: dict) -> set[str]:
    out = set()
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, np.ndarray):
            if old is None or old.shape != value.shape or not np.array_equal(old, value, equal_nan=True):
                out.add(key)
        elif old != value:
            out.add(key)
    return out


def declared(name: str, writes: tuple[str, ...]) -> bool:
    return any(name == w or name.startswith(w + ".") for w in writes)


def test_every_state_a_process_writes_is_declared(tiny_path):
    model = SafeNeighbourhoodModel(tiny_path, rng=7, scale=0.05)
    seen: dict[str, set[str]] = {}
    # Replay weeks across the run (selection, execution, Culture Points training and financing).
    for week in range(model.n_weeks):
        world = model.world
        replay = week % 9 == 0 or week in (60, 61, 62, 69, 70, 71, 73, 74, 75, 83, 84)
        if not replay:
            model.step()
            continue
        world.tally.reset()
        for process in model.processes:
            before = snapshot(world)
            process.step()
            diff = changed(before, snapshot(world))
            undeclared = {d for d in diff if not declared(d, process.writes)}
            assert not undeclared, f"{type(process).__name__} writes undeclared state: {sorted(undeclared)}"
            seen.setdefault(type(process).__name__, set()).update(diff)
        model.recorder.record_week()
        world.clock.week += 1
        model.steps += 1
    # The replay exercised every process at least once.
    assert {type(p).__name__ for p in model.processes} <= set(seen)
    assert seen["Offending"] and seen["Ministry"] and seen["SocialPrograms"]
