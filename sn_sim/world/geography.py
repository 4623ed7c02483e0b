"""Neighbourhoods and their blocks: the places where people live and offences happen.

Every neighbourhood is a grid of ``block_rows x block_cols`` blocks (≈60, the reported size).
Neighbourhoods of one city sit side by side in a row, so the last column of one touches the
first column of the next: offenders can roam, be displaced or be deterred across that border.
Every block has a land use (residential, commercial, market, transport node, nightlife): crime
generators and attractors that set where offenders go, who lives there and who is present to be
victimised (Brantingham & Brantingham 1995). Offenders search for targets around the anchors of
their routine activities -- the home block and the neighbourhood's activity nodes (markets,
transport stops) -- with distance decay (journeys to crime), over their own neighbourhood and
the adjacent ones. Block fields live in :mod:`sn_sim.world.blocks`.
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
    land_use: np.ndarray          # (n, B) int8, one of LAND_USES
    # The blocks an offender can reach: the home neighbourhood's and those of the neighbourhoods
    # on either side (a "search area" of 3B candidate blocks: left, own, right).
    search_area: np.ndarray       # (n, 3) int64 neighbourhood ids (left, own, right), -1 = none
    # An offender's search effort by home block over the search area: (1 - m) x decay from home
    # + m x decay from the neighbourhood's activity nodes (search_decay), shape (n, B, 3B) float32.
    search_weights: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)

    @cached_property
    def neighbour_count(self) -> np.ndarray:
        """(n*B,) Moore neighbours of each block (at least 1: a guard, every block has 3 or more)."""
        return np.maximum((self.block_neighbours >= 0).sum(axis=1), 1)

    @property
    def blocks_per_neighbourhood(self) -> int:
        return self.rows * self.cols

    def candidate_blocks(self, h: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Global block ids of search-area candidates ``c`` (0 … 3B-1) of neighbourhoods ``h``
        (-1 where the side neighbourhood does not exist)."""
        B = self.blocks_per_neighbourhood
        nb = self.search_area[h, c // B]
        return np.where(nb >= 0, nb * B + c % B, -1)


# Land uses, in the order of LandUse's attractor weights. Markets and transport stops are the
# activity nodes offenders search around (besides home).
RESIDENTIAL, COMMERCIAL, MARKET, TRANSPORT, NIGHTLIFE = range(5)
LAND_USES = ("residential", "commercial", "market", "transport", "nightlife")


def attractor_weights(scenario: Scenario) -> np.ndarray:
    """Static attractiveness multiplier of each land use (residential = 1)."""
    lu = scenario.land_use
    return np.array([1.0, lu.attractor_commercial, lu.attractor_market, lu.attractor_transport,
                     lu.attractor_nightlife])


def residential_density(scenario: Scenario) -> np.ndarray:
    """Relative number of residents per block, by land use."""
    d = scenario.land_use.nonresidential_density
    return np.array([1.0, d, d, d, d])


def draw_land_use(scenario: Scenario, n: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """(n, B) land uses: ``land_use.markets`` market and ``land_use.transport_nodes`` transport
    blocks at random places in every neighbourhood; each other block is nightlife or commercial
    with the scenario's shares, else residential."""
    lu = scenario.land_use
    rank = np.argsort(rng.random((n, B)), axis=1).argsort(axis=1)  # a random order of each row
    u = rng.random((n, B))
    use = np.where(u < lu.nightlife_share, NIGHTLIFE,
                   np.where(u < lu.nightlife_share + lu.commercial_share, COMMERCIAL, RESIDENTIAL))
    use = np.where(rank < lu.markets + lu.transport_nodes, TRANSPORT, use)
    use = np.where(rank < lu.markets, MARKET, use)
    return use.astype(np.int8)


def search_decay(scenario: Scenario, land_use: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance decay of journeys to crime over a search area of three neighbourhoods side by side.

    Returns ``home_decay`` (B, 3B): from each home block of the middle neighbourhood to every
    candidate, and ``node_decay`` (n, 3B): the mean decay from the neighbourhood's activity
    nodes (markets, transport stops). Rows are normalised to sum 1, so that
    ``crime.activity_node_share`` is the share of an offender's search spent around the nodes.
    (Candidates in a side neighbourhood that does not exist get no weight when the
    attractiveness is applied; rows are not renormalised for it, so a city's end neighbourhoods
    simply see fewer targets.)"""
    B = rows * cols
    lam = scenario.crime.journey_decay_blocks
    r, c = np.divmod(np.arange(B), cols)
    cand_r = np.tile(r, 3)
    cand_c = np.concatenate([c - cols, c, c + cols])
    dist = np.hypot(r[:, None] - cand_r[None, :], c[:, None] - cand_c[None, :])
    home = np.exp(-dist / lam)
    home /= home.sum(axis=1, keepdims=True)
    nodes = (land_use == MARKET) | (land_use == TRANSPORT)
    node = nodes.astype(float) @ home  # sum over each neighbourhood's node blocks
    count = nodes.sum(axis=1, keepdims=True)
    node = np.where(count > 0, node / np.maximum(count, 1), 0.0)
    return home.astype(np.float32), node.astype(np.float32)


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

    land_use = draw_land_use(scenario, n, B, rng)
    home_decay, node_decay = search_decay(scenario, land_use, rows, cols)
    # The static part of target choice, by home block (the attractiveness changes weekly). A
    # neighbourhood without activity nodes searches from home only.
    m = np.where(node_decay.any(axis=1), scenario.crime.activity_node_share, 0.0).astype(np.float32)[:, None, None]
    search_weights = (1 - m) * home_decay[None, :, :] + m * node_decay[:, None, :]
    search_area = np.stack([left_of, np.arange(n), right_of], axis=1).astype(np.int64)

    return Geography(
        names=names, district=district, district_names=district_names, city_names=city_names,
        city=city, lima=np.array(lima, dtype=bool), inhabitants=inhabitants, crime_level=crime_level,
        deprivation=deprivation, rows=rows, cols=cols,
        adjacent=[np.array(a, dtype=np.int64) for a in adjacent], block_neighbours=nbrs, land_use=land_use,
        search_area=search_area, search_weights=search_weights,
    )
