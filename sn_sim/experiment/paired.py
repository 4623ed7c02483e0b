"""Runs on common random numbers and the paired statistics every experiment reports.

``compare`` (effects of mixes against a base), ``channels.decompose`` (contributions of each
channel) and ``validation`` all run replicate r of several scenarios with
``run_replicate(scenario, seed, r)`` -- the same random numbers in every scenario -- and take
differences replicate by replicate: :func:`run_on_common_numbers` runs them on an executor,
:func:`t_interval` and :func:`ratio_interval` give the intervals, :data:`OUTCOMES` the outcomes
and display units of their tables.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario

# Outcomes of the effects table: (outcome, label, unit in tables, display factor, decimals). Labels
# come from the outcome registry; the units are the tables' display units (CSVs hold raw values).
CPA = "cost_per_offence_averted"  # a ratio of effects, not a registry outcome
_DISPLAY = [
    ("offences_per_1000_year", "offences", 1.0, 1),
    ("victimisation_12m", "% / pp", 100.0, 2),
    ("trust_police", "% / pp", 100.0, 2),
    ("insecurity", "% / pp", 100.0, 2),
    ("youth_in_gangs", "persons", 1.0, 0),
    ("cost_usd", "USD million", 1e-6, 2),
    ("total_cost_usd", "USD million", 1e-6, 2),
]
OUTCOMES = [(k, outcomes.get(k).label, unit, f, dec) for k, unit, f, dec in _DISPLAY]
OUTCOMES.append((CPA, "Cost per offence averted", "USD", 1.0, 0))  # on the total cost, budget + in-kind
LEVEL_OUTCOMES = [o[0] for o in OUTCOMES if o[0] != CPA]
SCOPE_LABELS = {"all": "all neighbourhoods of the pool", "treated": "neighbourhoods the scenario treats"}


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval across replicates (NaN interval with one replicate)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(x.mean())
    if n < 2:
        return (m, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return (m, m - half, m + half)


def ratio_interval(num: np.ndarray, den: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of means with Fieller's interval for paired replicates; NaN when den <= 0 on average."""
    from scipy import stats

    ok = ~(np.isnan(num) | np.isnan(den))
    a_, b_ = np.asarray(num, float)[ok], np.asarray(den, float)[ok]
    n = len(a_)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    a, b = float(a_.mean()), float(b_.mean())
    if b <= 0:
        return (math.nan, math.nan, math.nan)
    est = a / b
    if n < 2:
        return (est, math.nan, math.nan)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    vaa, vbb = a_.var(ddof=1) / n, b_.var(ddof=1) / n
    vab = float(np.cov(a_, b_, ddof=1)[0, 1]) / n
    qa = b * b - t * t * vbb
    qb = -2 * (a * b - t * t * vab)
    qc = a * a - t * t * vaa
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:  # denominator not clearly positive: the interval is unbounded
        return (est, math.nan, math.nan)
    r = math.sqrt(disc)
    return (est, (-qb - r) / (2 * qa), (-qb + r) / (2 * qa))


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (empty cells for missing values)."""
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        out.append("| " + " | ".join("" if pd.isna(row[c]) else str(row[c]) for c in cols) + " |")
    return "\n".join(out)


def run_on_common_numbers(scs: list[Scenario], names: list[str], replicates: int, seed: int, post_start: dt.date, *,
                          workers: int | None = None, scheduler: str | None = None, executor=None,
                          progress: bool = False, what: str = "compare",
                          kind: str = "compare") -> dict[tuple[int, int], dict]:
    """Run replicate r of every scenario with run_replicate(scenario, seed, r) on the local pool,
    a Dask cluster or ``executor``; returns {(scenario index, replicate): per-neighbourhood totals
    and weekly series} (executors.RunTask ``kind`` "compare", or "decompose": also every
    neighbourhood's weekly flows)."""
    from tqdm import tqdm

    from sn_sim.experiment.executors import LocalPoolExecutor, RunTask, default_workers, make_executor

    tasks = [RunTask(scenario=s.to_dict(), seed=seed, replicate=r, post_start=post_start.isoformat(),
                     kind=kind, key=i * replicates + r)
             for i, s in enumerate(scs) for r in range(replicates)]
    own = executor is None
    if own:
        if scheduler:
            executor = make_executor(None, scheduler)
        else:
            executor = LocalPoolExecutor(min(workers or default_workers(), len(tasks)))
        executor.start()
    results: dict[tuple[int, int], dict] = {}
    try:
        with tqdm(total=len(tasks), unit="run", desc=what, disable=not progress, dynamic_ncols=True) as bar:
            for o in executor.run(tasks):
                i, r = divmod(tasks[o.index].key, replicates)
                if not o.ok:
                    raise RuntimeError(f"{what}: {names[i]} replicate {r} failed: {o.error}\n{o.traceback or ''}")
                results[(i, r)] = o.value
                bar.update(1)
    finally:
        if own:
            executor.close()
    return results
