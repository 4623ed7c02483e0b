"""Synthetic staggered-adoption panels with known effects, to test the estimators.

y_it = a_i + l_t + tau_it + e_it with unit effects a_i, a random-walk period effect l_t (common
trends), iid noise and a known effect tau_it, so parallel trends and no anticipation hold by
construction and the only question is whether an estimator recovers tau. Shared by
``tests/test_evaluation_estimators.py`` and ``experiments/estimator_coverage.py``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["synthetic_panel", "growing_effects", "constant_effect", "heterogeneous_panel"]


def constant_effect(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.full_like(e, 2.0, dtype=float)


def growing_effects(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    """1 in the adoption period, growing by 1 per period since: the textbook case where TWFE,
    which uses already-treated units as controls, is biased downwards."""
    return 1.0 + e


def synthetic_panel(n_units: int = 60, n_periods: int = 12, cohorts=(4, 6, 8), never_share: float = 0.25,
                    effect: Callable[[np.ndarray, np.ndarray], np.ndarray] = constant_effect, noise: float = 1.0,
                    seed: int = 0, first_year: int = 2000) -> pd.DataFrame:
    """Balanced staggered-adoption panel; ``effect(e, g)`` is the effect e periods after adoption
    in cohort g (periods counted from 0). Cohorts are assigned in turn to the treated units.
    Columns: unit, time and cohort (labelled first_year + period; cohort NaN for never treated),
    y, tau (the true effect), score (a noisy unit effect, for matching)."""
    rng = np.random.default_rng(seed)
    n_never = int(round(n_units * never_share))
    g = np.full(n_units, np.nan)
    treated = np.arange(n_never, n_units)
    g[treated] = np.asarray(cohorts, dtype=float)[np.arange(treated.size) % len(cohorts)]
    a = rng.normal(0.0, 1.0, n_units)
    lam = rng.normal(0.0, 1.0, n_periods).cumsum()
    u = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    gg = g[u]
    e = np.where(np.isnan(gg), -1.0, t - np.nan_to_num(gg))
    tau = np.where(e >= 0, effect(e, np.nan_to_num(gg)), 0.0)
    y = a[u] + lam[t] + tau + rng.normal(0.0, noise, u.size)
    return pd.DataFrame({
        "unit": u, "time": t + first_year, "cohort": gg + first_year, "y": y, "tau": tau,
        "score": (a + rng.normal(0.0, 0.2, n_units))[u],
    })


def heterogeneous_panel(seed: int, n_units: int = 80, n_periods: int = 12, never_share: float = 0.25,
                        noise: float = 1.0) -> pd.DataFrame:
    """The coverage study's design: four cohorts (periods 3, 5, 7, 9 of 12), a quarter of the
    units never treated, effects that grow with time since adoption and differ by cohort
    (earlier cohorts gain more: 1 + 0.5 e + 0.1 (9 - g)), so TWFE's forbidden comparisons bias it."""
    return synthetic_panel(n_units=n_units, n_periods=n_periods, cohorts=(3, 5, 7, 9), never_share=never_share,
                           effect=lambda e, g: 1.0 + 0.5 * e + 0.1 * (9 - g), noise=noise, seed=seed)
