"""The one way through: scenario -> model -> Results.

``run`` is pure: the same scenario and seed give the same Results, and nothing is written.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.observe.provenance import provenance
from sn_sim.observe.results import Results
from sn_sim.scenario import Scenario, load_scenario


def package_version() -> str:
    try:
        return version("sn_sim")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def replicate_streams(seed: int, replicates: int) -> list[np.random.SeedSequence]:
    """Independent child streams, one per replicate (SeedSequence.spawn).

    Replicate i always gets the same stream for the same seed, whatever the number of
    replicates or workers; policy comparisons reuse them (common random numbers)."""
    return np.random.SeedSequence(seed).spawn(replicates)


def run_replicate(scenario: Scenario, seed: int, replicate: int,
                  progress: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One replicate: (panel, blocks, neighbourhoods) frames."""
    stream = replicate_streams(seed, replicate + 1)[replicate]
    model = SafeNeighbourhoodModel(scenario, rng=stream)
    model.run(progress=progress)
    rec = model.recorder
    return rec.panel(scenario.name, replicate, seed), rec.blocks(replicate), rec.neighbourhoods(replicate)


def run(scenario: Scenario | str | Path, seed: int = 0, replicates: int = 1,
        progress: Callable[[int], None] | None = None) -> Results:
    """Simulate ``scenario`` for ``replicates`` independent replicates.

    Parameters
    ----------
    scenario : Scenario or path to a scenario TOML file
    seed : root seed; replicate streams are spawned from it
    replicates : number of replicates (>= 1)
    progress : optional callback, called with 1 after every simulated week

    Returns
    -------
    Results with ``panel`` (replicate x neighbourhood x week), ``blocks`` and ``manifest``.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    t0 = time.perf_counter()
    panels, blocks, places = [], [], []
    for i in range(replicates):
        p, b, nb = run_replicate(scenario, seed, i, progress)
        panels.append(p)
        blocks.append(b)
        places.append(nb)
    wall = time.perf_counter() - t0
    manifest = build_manifest(scenario, seed, replicates, wall)
    return Results(panel=pd.concat(panels, ignore_index=True), blocks=pd.concat(blocks, ignore_index=True),
                   manifest=manifest, neighbourhoods=pd.concat(places, ignore_index=True), scenario=scenario)


def build_manifest(scenario: Scenario, seed: int, replicates: int, wall: float) -> dict:
    """The run's manifest (docs/data_dictionary.md §4). ``checksums`` is null until
    :meth:`Results.save` writes the data files and records theirs."""
    streams = replicate_streams(seed, replicates)
    return {
        "package": "sn_sim",
        "version": package_version(),
        "scenario_name": scenario.name,
        "scenario_hash": scenario.digest(),
        "scenario": scenario.to_dict(),
        "seed": seed,
        "replicates": replicates,
        "replicate_streams": [{"replicate": i, "entropy": s.entropy, "spawn_key": list(s.spawn_key)}
                              for i, s in enumerate(streams)],
        "wall_time_s": round(wall, 3),
        **provenance(),
        "checksums": None,
    }
