"""Experiments: compare policy mixes, run batch parameter sweeps, sensitivity analysis.

``compare([base, other, ...])`` runs scenarios on common random numbers and returns effects
against the first with 95% intervals; ``run_sweep(SWEEP.toml)`` runs a design of parameter
points into a resumable sweep directory on a local process pool or a Dask cluster;
``load_sweep(DIR)`` and ``query(DIR, sql)`` read it back; ``sensitivity(DIR, outputs)``
computes Sobol or Morris indices; ``discover(DIR, output, threshold)`` finds the parameter
ranges where an output crosses a threshold (PRIM, CART, EMA Workbench) and ``to_ema(scenario,
...)`` exposes the model as an EMA Workbench model; ``run_optimisation(FILE)`` searches policy
levers for a Pareto front over several objectives across uncertain worlds (Optuna NSGA-II).
See docs/experiments.md.

Run summaries (``<outcome>_<scope>`` columns) come from the outcome registry,
:mod:`sn_sim.observe.outcomes`. The heavy optional libraries (SALib, dask, duckdb, matplotlib)
are imported only when used.
"""

from __future__ import annotations

from sn_sim.experiment import compare as _compare_module
from sn_sim.experiment import sensitivity as _sensitivity_module
from sn_sim.experiment.discovery import DiscoveryResult, discover
from sn_sim.experiment.ema import to_ema
from sn_sim.experiment.optimise import OptimiseResult, plan_optimisation, run_optimisation
from sn_sim.experiment.executors import DaskExecutor, Executor, LocalPoolExecutor, RunTask, run_task
from sn_sim.experiment.sweep import (
    SweepPlan,
    SweepResult,
    load_failures,
    load_sweep,
    plan_sweep,
    query,
    run_sweep,
)

# The functions share their modules' names: bind the package attributes to the functions
# (the modules stay reachable as sys.modules["sn_sim.experiment.compare"], etc.).
ComparisonResult = _compare_module.ComparisonResult
SensitivityResult = _sensitivity_module.SensitivityResult
compare = _compare_module.compare
sensitivity = _sensitivity_module.sensitivity

__all__ = [
    "compare", "ComparisonResult", "run_sweep", "plan_sweep", "load_sweep", "load_failures", "query",
    "SweepPlan", "SweepResult", "sensitivity", "SensitivityResult", "Executor", "LocalPoolExecutor",
    "DaskExecutor", "RunTask", "run_task", "discover", "DiscoveryResult", "to_ema",
    "run_optimisation", "plan_optimisation", "OptimiseResult",
]

