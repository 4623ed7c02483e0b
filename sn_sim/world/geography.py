"""Neighbourhoods and their blocks: the places where people live and offences happen.

Every neighbourhood is a grid of ``block_rows x block_cols`` blocks (≈60, the reported size).
Neighbourhoods of one city sit side by side in a row, so the last column of one touches the
first column of the next: offenders can roam, be displaced or be deterred across that border.
Block fields live in :mod:`sn_sim.world.blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sn_sim.scenario import Scenario


@dataclass
class Geography:
    """Static description of the candidate pool: who is where, and who touches whom."""

    names: list[str]              # "Comas-03"
    district: np.ndarray          # (n,) int16 index into district_names
    district_names: list[str]
    city_names: list[str]
    city: np.ndarray              # (n,) int16 index into city_names
    lima: np.ndarray              # (n,) bool, in Lima Metropolitana
    inhabitants: np.ndarray       # (n,) int64, persons represented
    crime_level: np.ndarray       # (n,) float64, district level x neighbourhood deprivation
    deprivation: np.ndarray       # (n,) float64, log-multiplier, mean 0
    rows: int
    cols: int
    adjacent: list[np.ndarray]    # neighbourhood -> neighbouring neighbourhoods (same city, side by side)
    block_neighbours: np.ndarray  # (n*B, 8) int32 global block ids of Moore neighbours, -1 = none
    block_decay: np.ndarray       # (B, B) float32 journey-to-crime weight from home block to target block

    @property
    def n(self) -> int:
        return len(self.names)

    @cached_property
    def adjacent_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``adjacent`` as arrays: (n, max neighbours) ids padded with -1, and counts (n,)."""
        counts = np.array([a.size for a in self.adjacent], dtype=np.int64)
        table = np.full((self.n, max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
        for h, a in enumerate(self.adjacent):
            table[h, :a.size] = a
        return table, counts

    @property
    def blocks_per_neighbourhood(self) -> int:
        return self.rows * self.cols


def build_geography(scenario: Scenario, rng: np.random.Generator) -> Geography:
    pop = scenario.population
    district_names = [d.name for d in scenario.districts]
    city_names = sorted({d.city for d in scenario.districts})
    names, district, city, lima, level = [], [], [], [], []
    for di, d in enumerate(scenario.districts):
        for k in range(d.neighbourhoods):
            names.append(f"{d.name}-{k + 1:02d}")
            district.append(di)
            city.append(city_names.index(d.city))
            lima.append(d.lima)
            level.append(d.crime_level)
    n = len(names)
    district = np.array(district, dtype=np.int16)
    city = np.array(city, dtype=np.int16)
    inhabitants = rng.integers(pop.inhabitants_min, pop.inhabitants_max + 1, size=n).astype(np.int64)
    # Deprivation: a latent neighbourhood disadvantage that raises offending and risk together
    # (Sampson et al. 1997: concentrated disadvantage).
    deprivation = rng.normal(0.0, pop.deprivation_sd, size=n)
    crime_level = np.array(level) * np.exp(deprivation)

    rows, cols = pop.block_rows, pop.block_cols
    B = rows * cols

    # Neighbourhoods of one city form a row, in pool order.
    adjacent: list[list[int]] = [[] for _ in range(n)]
    left_of = np.full(n, -1)
    for c in range(len(city_names)):
        members = np.flatnonzero(city == c)
        for a, b in zip(members[:-1], members[1:]):
            adjacent[a].append(b)
            adjacent[b].append(a)
            left_of[b] = a

    # Moore neighbours of each block, crossing into the next neighbourhood of the same city.
    r, cc = np.divmod(np.arange(B), cols)
    nbrs = np.full((n * B, 8), -1, dtype=np.int32)
    right_of = np.full(n, -1)
    for b_, a_ in enumerate(left_of):
        if a_ >= 0:
            right_of[a_] = b_
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    h = np.arange(n)[:, None]  # (n, 1) against the (B,) block grid: every neighbourhood at once
    for k, (dr, dc) in enumerate(offsets):
        rr, c2 = r + dr, cc + dc
        inside_rows = (rr >= 0) & (rr < rows)
        target_h = np.where(c2 < 0, left_of[:, None], np.where(c2 >= cols, right_of[:, None], h))
        col = np.where(c2 < 0, c2 + cols, np.where(c2 >= cols, c2 - cols, c2))
        ok = inside_rows & (target_h >= 0)
        ids = np.where(ok, target_h * B + np.clip(rr, 0, rows - 1) * cols + col, -1)
        nbrs[:, k] = ids.ravel()

    # Journey to crime: offending decays with distance from home (Bernasco 2010).
    dist = np.hypot(r[:, None] - r[None, :], cc[:, None] - cc[None, :])
    decay = np.exp(-dist / scenario.crime.journey_decay_blocks).astype(np.float32)

    return Geography(
        names=names, district=district, district_names=district_names, city_names=city_names,
        city=city, lima=np.array(lima, dtype=bool), inhabitants=inhabitants, crime_level=crime_level,
        deprivation=deprivation, rows=rows, cols=cols,
        adjacent=[np.array(a, dtype=np.int64) for a in adjacent], block_neighbours=nbrs, block_decay=decay,
    )
