"""Random numbers: named streams that survive change, and per-person uniforms for twin runs.

**Named streams.** Every process draws from generators keyed by *a hash of its name* and the
week (as Starsim keys its streams by name): ``(entropy, spawn_key + (hash(name), week))``.
Adding, removing or reordering a process therefore never changes any other process's numbers,
and a policy change in one process never shifts another's.

**Which kind of draw.** The rule every process follows:

- *Per-person (or per-place) decisions* that must line up between twin runs -- whether this
  resident offends where, is deterred, reports, is convicted, leaves a junta -- use
  :meth:`RandomStreams.uniforms` (counter-based, keyed by the person's identity, the stream
  name and the week). The draw for person *i* does not depend on how many others drew before.
- *Draws whose number the policy itself sets* -- whom an extra officer contacts, which gang
  members an operation catches, who is enrolled -- use the sequential weekly generator
  :meth:`RandomStreams.stream`. Their position in the stream is fixed by the week and the
  process name, so the rest of the run does not depend on how many were drawn.
- The initial state is built from :meth:`RandomStreams.initial` (one sequential generator).

**Counter-based uniforms** (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"):
a uniform is a hash of (stream key, identity, draw number), computed with the SplitMix64
finaliser (Steele, Lea & Flood 2014), so it depends on nothing else that happened in the run.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

# Spawn-key entries must be non-negative, and weeks before week 0 (the burn-in) are
# negative: keys carry week + WEEK_OFFSET. The calendar schema caps the burn-in far below.
WEEK_OFFSET = 1 << 20


def name_key(name: str) -> int:
    """A stable 32-bit key of a stream name (first bytes of its SHA-256; Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


_ROWS = 1 << 16  # values per chunk of keyed_uniforms (512 KB of uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised on uint64 (wrap-around multiplication is intended)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def keyed_uniforms(key: int, ids: np.ndarray, n_draws: int) -> np.ndarray:
    """Uniforms in [0, 1), shape (len(ids), n_draws): row i depends only on (key, ids[i]).

    key: 64-bit stream key (e.g. from :meth:`RandomStreams.key`)
    ids: non-negative integer identities (residents, neighbourhoods, ...)
    """
    ids = np.asarray(ids).astype(np.uint64)
    out = np.empty((ids.size, n_draws))
    steps = np.arange(1, n_draws + 1, dtype=np.uint64) * _GOLDEN
    rows = max(_ROWS // max(n_draws, 1), 1)  # row chunks: the uint64 temporaries stay in cache
    with np.errstate(over="ignore"):
        for lo in range(0, ids.size, rows):
            base = _mix(ids[lo:lo + rows] * _GOLDEN ^ np.uint64(key))
            draws = _mix(base[:, None] + steps)
            out[lo:lo + rows] = (draws >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return out


class RandomStreams:
    """All randomness of one replicate, derived from its root SeedSequence.

    ``week`` is read from the clock at each call, so the same (seed, name, week) always gives
    the same numbers."""

    def __init__(self, seed_sequence: np.random.SeedSequence, clock):
        self.seed_sequence = seed_sequence
        self.clock = clock
        self._cache: dict[str, np.random.Generator] = {}
        self._cache_week: int | None = None

    def _sequence(self, name: str, week: int) -> np.random.SeedSequence:
        ss = self.seed_sequence
        return np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (name_key(name), week + WEEK_OFFSET))

    def initial(self) -> np.random.Generator:
        """The generator the initial state is drawn from (used once, at construction)."""
        return np.random.default_rng(self.seed_sequence)

    def stream(self, name: str) -> np.random.Generator:
        """This week's sequential generator of the named process (one per name and week)."""
        week = self.clock.week
        if self._cache_week != week:
            self._cache.clear()
            self._cache_week = week
        gen = self._cache.get(name)
        if gen is None:
            gen = self._cache[name] = np.random.default_rng(self._sequence(name, week))
        return gen

    def key(self, name: str) -> int:
        """This week's 64-bit key of the named per-person uniforms."""
        return int(self._sequence(name, self.clock.week).generate_state(1, np.uint64)[0])

    def uniforms(self, name: str, ids: np.ndarray, n_draws: int = 1) -> np.ndarray:
        """This week's per-identity uniforms of the named decision, shape (len(ids), n_draws)."""
        return keyed_uniforms(self.key(name), ids, n_draws)
