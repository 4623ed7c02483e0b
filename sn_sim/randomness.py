"""Random numbers that line up across twin runs (common random numbers).

Two runs of the same seed that differ in policy must draw the *same* numbers for the same
person in the same week wherever the policy did not change that person's situation; otherwise a
difference between the runs is noise, not effect. Sequential generators cannot give this: one
extra offender in a treated neighbourhood shifts every later draw. So per-person decisions use
counter-based uniforms (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): a
uniform is a hash of (stream key, person, draw number), computed with the SplitMix64 finaliser
(Steele, Lea & Flood 2014), so it depends on nothing else that happened in the run.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised on uint64 (wrap-around multiplication is intended)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def keyed_uniforms(key: int, ids: np.ndarray, n_draws: int) -> np.ndarray:
    """Uniforms in [0, 1), shape (len(ids), n_draws): row i depends only on (key, ids[i]).

    key: 64-bit stream key (e.g. from ``SafeNeighbourhoodModel.stream_key``)
    ids: non-negative integer identities (residents, neighbourhoods, ...)
    """
    ids = np.asarray(ids).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = _mix(ids * _GOLDEN ^ np.uint64(key))
        draws = _mix(base[:, None] + np.arange(1, n_draws + 1, dtype=np.uint64) * _GOLDEN)
    return (draws >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
